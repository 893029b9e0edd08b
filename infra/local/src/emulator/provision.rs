//! Creates a deployment's DynamoDB tables and S3 bucket on a local AWS
//! endpoint (moto, LocalStack, DynamoDB Local) from the definitions in
//! `template.yaml` itself: keys, indexes and TTL are read from the file
//! `sam deploy` ships, so what the tests run against cannot drift from it.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use boomerang_aws::Deployment;
use serde_yaml_ng::Value;

/// The SAM template, as deployed.
pub const TEMPLATE: &str = include_str!("../../../../template.yaml");

/// One `AWS::DynamoDB::Table` of the template.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDef {
    pub logical_id: String,
    /// `(name, S | N | B)`
    pub attributes: Vec<(String, String)>,
    /// `(name, HASH | RANGE)`
    pub key: Vec<(String, String)>,
    /// `(index name, key)`, each projecting `ALL` unless named in
    /// `keys_only`.
    pub indexes: Vec<(String, Vec<(String, String)>)>,
    /// The indexes that project `KEYS_ONLY`.
    pub keys_only: Vec<String>,
    pub ttl_attribute: Option<String>,
}

/// The template's tables.
pub fn table_defs(template: &str) -> Result<Vec<TableDef>, String> {
    let doc: Value = serde_yaml_ng::from_str(template).map_err(|e| format!("template: {e}"))?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or("template has no Resources")?;
    let mut defs = Vec::new();
    for (id, res) in resources {
        if res.get("Type").and_then(Value::as_str) != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let id = id.as_str().ok_or("resource id is not a string")?.to_owned();
        let props = res
            .get("Properties")
            .ok_or(format!("{id}: no Properties"))?;
        let pairs =
            |v: Option<&Value>, a: &str, b: &str| -> Result<Vec<(String, String)>, String> {
                v.and_then(Value::as_sequence)
                    .ok_or(format!("{id}: missing list"))?
                    .iter()
                    .map(|e| {
                        let get = |k| e.get(k).and_then(Value::as_str).map(str::to_owned);
                        get(a)
                            .zip(get(b))
                            .ok_or(format!("{id}: expected {a} and {b}"))
                    })
                    .collect()
            };
        let mut indexes = Vec::new();
        let mut keys_only = Vec::new();
        for gsi in props
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let name = gsi
                .get("IndexName")
                .and_then(Value::as_str)
                .ok_or(format!("{id}: index without a name"))?;
            let projection = gsi
                .get("Projection")
                .and_then(|p| p.get("ProjectionType"))
                .and_then(Value::as_str);
            match projection {
                Some("ALL") => {}
                Some("KEYS_ONLY") => keys_only.push(name.to_owned()),
                _ => {
                    return Err(format!(
                        "{id}.{name}: only ProjectionType ALL or KEYS_ONLY is supported"
                    ))
                }
            }
            indexes.push((
                name.to_owned(),
                pairs(gsi.get("KeySchema"), "AttributeName", "KeyType")?,
            ));
        }
        let ttl = props.get("TimeToLiveSpecification");
        let ttl_attribute = ttl
            .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
            .and_then(|t| t.get("AttributeName"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        defs.push(TableDef {
            attributes: pairs(
                props.get("AttributeDefinitions"),
                "AttributeName",
                "AttributeType",
            )?,
            key: pairs(props.get("KeySchema"), "AttributeName", "KeyType")?,
            indexes,
            keys_only,
            ttl_attribute,
            logical_id: id,
        });
    }
    Ok(defs)
}

/// The table name a template table gets in `deployment`.
fn table_name<'a>(deployment: &'a Deployment, logical_id: &str) -> Option<&'a str> {
    let t = &deployment.tables;
    Some(match logical_id {
        "ConnectionsTable" => &t.connections,
        "JobsTable" => &t.jobs,
        "EventsTable" => &t.events,
        "IdempotencyTable" => &t.idempotency,
        "QuotasTable" => &t.quotas,
        _ => return None,
    })
}

/// Creates what `deployment` names and does not exist yet: its tables
/// as the template defines them (TTL included), and its bucket.
pub async fn create_resources(sdk: &SdkConfig, deployment: &Deployment) -> Result<(), String> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    for def in table_defs(TEMPLATE)? {
        let name = table_name(deployment, &def.logical_id).ok_or(format!(
            "template table {} is unknown to Boomerang",
            def.logical_id
        ))?;
        create_table(&dynamo, name, &def).await?;
    }
    let s3 = boomerang_aws::s3_client(sdk);
    match s3.create_bucket().bucket(&deployment.bucket).send().await {
        Ok(_) => Ok(()),
        Err(e) => match e.into_service_error() {
            aws_sdk_s3::operation::create_bucket::CreateBucketError::BucketAlreadyOwnedByYou(_) => {
                Ok(())
            }
            other => Err(format!(
                "bucket {}: {}",
                deployment.bucket,
                aws_sdk_s3::error::DisplayErrorContext(other)
            )),
        },
    }
}

/// Lets pages from `origins` PUT files straight to `bucket`, as the
/// template's `FilesBucket` CORS rule does for `AllowedOrigins`.
pub async fn allow_page_uploads(
    sdk: &SdkConfig,
    bucket: &str,
    origins: &[String],
) -> Result<(), String> {
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let rule = CorsRule::builder()
        .allowed_methods("PUT")
        .set_allowed_origins(Some(origins.to_vec()))
        .allowed_headers("content-type")
        .allowed_headers("if-none-match")
        .max_age_seconds(3600)
        .build()
        .map_err(|e| format!("bucket {bucket}'s CORS: {e}"))?;
    let cors = CorsConfiguration::builder()
        .cors_rules(rule)
        .build()
        .map_err(|e| format!("bucket {bucket}'s CORS: {e}"))?;
    boomerang_aws::s3_client(sdk)
        .put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(cors)
        .send()
        .await
        .map_err(|e| {
            format!(
                "bucket {bucket}'s CORS: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
    Ok(())
}

async fn create_table(
    c: &aws_sdk_dynamodb::Client,
    name: &str,
    def: &TableDef,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("table {name}: {e}");
    let key = |schema: &[(String, String)]| -> Result<Vec<KeySchemaElement>, String> {
        schema
            .iter()
            .map(|(a, k)| {
                KeySchemaElement::builder()
                    .attribute_name(a)
                    .key_type(KeyType::from(k.as_str()))
                    .build()
                    .map_err(|e| err(&e))
            })
            .collect()
    };
    let mut req = c
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key(&def.key)?));
    for (a, t) in &def.attributes {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::from(t.as_str()))
                .build()
                .map_err(|e| err(&e))?,
        );
    }
    for (index, schema) in &def.indexes {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .set_key_schema(Some(key(schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(if def.keys_only.contains(index) {
                            ProjectionType::KeysOnly
                        } else {
                            ProjectionType::All
                        })
                        .build(),
                )
                .build()
                .map_err(|e| err(&e))?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) => match e.into_service_error() {
            aws_sdk_dynamodb::operation::create_table::CreateTableError::ResourceInUseException(
                _,
            ) => return Ok(()),
            other => return Err(err(&aws_sdk_dynamodb::error::DisplayErrorContext(other))),
        },
    }
    if let Some(attr) = &def.ttl_attribute {
        c.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attr)
                    .enabled(true)
                    .build()
                    .map_err(|e| err(&e))?,
            )
            .send()
            .await
            .map_err(|e| err(&aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use boomerang_aws::tables::{CONNECTIONS_BY_USER, JOBS_BY_OWNER, JOBS_WAITING, TTL};

    fn def<'a>(defs: &'a [TableDef], id: &str) -> &'a TableDef {
        defs.iter()
            .find(|d| d.logical_id == id)
            .unwrap_or_else(|| panic!("template.yaml lacks {id}"))
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// The adapters' keys, indexes and TTL attribute (functions/aws) are
    /// the ones template.yaml deploys.
    #[test]
    fn the_template_defines_the_tables_the_adapters_use() {
        let defs = table_defs(TEMPLATE).unwrap();
        assert_eq!(defs.len(), 5);

        let c = def(&defs, "ConnectionsTable");
        assert_eq!(c.key, pairs(&[("connectionId", "HASH")]));
        assert_eq!(
            c.indexes,
            vec![(CONNECTIONS_BY_USER.into(), pairs(&[("userId", "HASH")]))]
        );
        assert_eq!(c.ttl_attribute.as_deref(), Some(TTL));

        let j = def(&defs, "JobsTable");
        assert_eq!(j.key, pairs(&[("jobId", "HASH")]));
        assert_eq!(
            j.indexes,
            vec![
                (
                    JOBS_BY_OWNER.into(),
                    pairs(&[("owner", "HASH"), ("createdAt", "RANGE")])
                ),
                (
                    JOBS_WAITING.into(),
                    pairs(&[("waitShard", "HASH"), ("waitingSince", "RANGE")])
                ),
            ]
        );
        // Keys only: a job's writes never copy its result into an index.
        assert_eq!(j.keys_only, [JOBS_BY_OWNER, JOBS_WAITING]);
        assert!(c.keys_only.is_empty());
        assert!(j.attributes.contains(&("createdAt".into(), "N".into())));
        assert!(j.attributes.contains(&("waitShard".into(), "S".into())));
        assert!(j.attributes.contains(&("waitingSince".into(), "N".into())));
        assert_eq!(j.ttl_attribute.as_deref(), Some(TTL));

        let e = def(&defs, "EventsTable");
        assert_eq!(e.key, pairs(&[("userId", "HASH"), ("seq", "RANGE")]));
        assert!(e.attributes.contains(&("seq".into(), "N".into())));
        assert_eq!(e.ttl_attribute.as_deref(), Some(TTL));

        let i = def(&defs, "IdempotencyTable");
        let key = pairs(&[("userId", "HASH"), ("idempotencyKey", "RANGE")]);
        assert_eq!(i.key, key);
        assert!(i.indexes.is_empty());
        assert_eq!(i.ttl_attribute.as_deref(), Some(TTL));
    }
}
