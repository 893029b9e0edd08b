//! Who is on the other end of a loopback connection: on Linux the kernel
//! lists every TCP socket with its owner (`/proc/net/tcp`, `tcp6`), so the
//! development endpoints can answer only processes of the user the stack
//! runs as (the browser of whoever ran `make run`), not another account of
//! a shared machine. Elsewhere there is no such list, and they answer any
//! local process (docs/security.md says so).

use std::net::{IpAddr, SocketAddr};

/// Whether the socket at `peer`, connected to us at `us`, belongs to the
/// user this process runs as. `None` where the kernel does not say (no
/// `/proc/net`).
pub fn is_ours(peer: SocketAddr, us: SocketAddr) -> Option<bool> {
    // SAFETY: geteuid cannot fail and touches no memory of ours.
    let me = unsafe { libc::geteuid() };
    let table = match peer.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = std::fs::read_to_string(table).ok()?;
    let (from, to) = (proc_address(peer), proc_address(us));
    // That connection, established (an old one from the same port may
    // linger in TIME_WAIT, owned by nobody in particular).
    let owner = text.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let this = cols.get(1)? == &from && cols.get(2)? == &to && cols.get(3)? == &"01";
        this.then(|| cols.get(7)?.parse::<u32>().ok())?
    });
    // A peer not listed has gone: nobody to answer.
    Some(owner == Some(me))
}

/// `addr` as `/proc/net/tcp*` writes it: the address's 32-bit words each
/// in the machine's order, in hex, then the port in hex.
fn proc_address(addr: SocketAddr) -> String {
    let ip: String = match addr.ip() {
        IpAddr::V4(v4) => format!("{:08X}", u32::from_ne_bytes(v4.octets())),
        IpAddr::V6(v6) => v6
            .octets()
            .chunks(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
            .collect(),
    };
    format!("{ip}:{:04X}", addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_of_this_process_is_ours() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_side, peer) = listener.accept().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        if std::path::Path::new("/proc/net/tcp").exists() {
            let us = listener.local_addr().unwrap();
            assert_eq!(is_ours(peer, us), Some(true));
            // Not a connection to somewhere else from the same port.
            let elsewhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
            assert_eq!(is_ours(peer, elsewhere), Some(false));
        }
    }

    #[test]
    fn addresses_are_written_as_the_kernel_writes_them() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(proc_address(addr), "0100007F:1F90");
        }
    }
}
