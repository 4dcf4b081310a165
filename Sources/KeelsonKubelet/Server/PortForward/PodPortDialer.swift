import CLinuxNamespace
import Foundation

/// Opens a TCP connection to a port on a pod's loopback, as the kubelet's port-forward does: from inside the
/// pod's network namespace, so a server that listens only on 127.0.0.1 in the pod is reached too.
enum PodPortDialer {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A connected socket's descriptor (the caller owns it). `networkNamespace` is a path such as
    /// `/proc/PID/ns/net`; nil dials from the agent's own namespace (host-network pods).
    static func connect(port: Int, networkNamespace: String?) async throws -> CInt {
        try await withCheckedThrowingContinuation { continuation in
            // A thread of its own: entering a namespace changes the calling thread, and this one ends after the
            // dial instead of going back to serve the agent from inside a pod.
            let thread = Thread { continuation.resume(with: Result { try dial(port: port, networkNamespace: networkNamespace) }) }
            thread.name = "keelson-port-forward-dial"
            thread.start()
        }
    }

    private static func dial(port: Int, networkNamespace: String?) throws -> CInt {
        guard (1...65535).contains(port) else { throw Failure(description: "port \(port) is out of range") }
        if let networkNamespace {
            let namespace = open(networkNamespace, O_RDONLY | O_CLOEXEC)
            guard namespace >= 0 else { throw Failure(description: "cannot open the pod's network namespace: \(String(cString: strerror(errno)))") }
            defer { close(namespace) }
            guard keelson_enter_network_namespace(namespace) == 0 else {
                throw Failure(description: "cannot enter the pod's network namespace: \(String(cString: strerror(errno)))")
            }
        }
        // localhost: IPv4 first, then IPv6 for servers that listen only there.
        var lastError: Int32 = ECONNREFUSED
        for family in [AF_INET, AF_INET6] {
            let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = errno
                continue
            }
            let result: Int32
            if family == AF_INET {
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
                result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            } else {
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = in_port_t(UInt16(port).bigEndian)
                address.sin6_addr = in6addr_loopback
                result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            }
            if result == 0 { return fd }
            lastError = errno
            close(fd)
        }
        throw Failure(description: "dial tcp localhost:\(port): \(String(cString: strerror(lastError)))")
    }
}
