import ArgumentParser
import Foundation
import KeelsonStore
import Logging

/// Where the cluster's state lives, for `keelson server` and `keelson etcd-snapshot`. The certificate flags take
/// kube-apiserver's names and k3s's.
struct DatastoreFlags: ParsableArguments {
    @Option(help: "(db) Datastore: sqlite://PATH (default: sqlite://DATA_DIR/server/db/state.db), etcd://HOST:PORT[,HOST:PORT…][/PREFIX] or etcds://… for TLS")
    var datastoreEndpoint: String?

    @Option(name: [.customLong("etcd-cafile"), .customLong("datastore-cafile")],
        help: "(db) CA certificate (PEM) that signed etcd's serving certificate, for etcds:// (default: the system's roots)")
    var etcdCafile: String?

    @Option(name: [.customLong("etcd-certfile"), .customLong("datastore-certfile")],
        help: "(db) Client certificate (PEM) for etcds://")
    var etcdCertfile: String?

    @Option(name: [.customLong("etcd-keyfile"), .customLong("datastore-keyfile")],
        help: "(db) Client certificate's private key (PEM) for etcds://")
    var etcdKeyfile: String?
}

/// A validated datastore choice.
enum Datastore: Equatable {
    case sqlite(path: String)
    case etcd(url: String, tls: EtcdStore.TLSFiles)

    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    init(_ flags: DatastoreFlags, dataDir: String) throws {
        let endpoint = flags.datastoreEndpoint ?? "sqlite://" + Self.defaultSQLitePath(dataDir: dataDir)
        let tls = EtcdStore.TLSFiles(caFile: flags.etcdCafile, certFile: flags.etcdCertfile, keyFile: flags.etcdKeyfile)
        if endpoint.hasPrefix("sqlite://") {
            guard tls == EtcdStore.TLSFiles() else {
                throw Invalid(description: "--etcd-cafile, --etcd-certfile and --etcd-keyfile need an etcds:// datastore endpoint")
            }
            self = .sqlite(path: String(endpoint.dropFirst("sqlite://".count)))
        } else if endpoint.hasPrefix("etcd://") || endpoint.hasPrefix("etcds://") {
            do {
                _ = try EtcdStore.Configuration(url: endpoint, tls: tls)
            } catch {
                throw Invalid(description: "--datastore-endpoint \(endpoint): \(error)")
            }
            self = .etcd(url: endpoint, tls: tls)
        } else {
            throw Invalid(description: "--datastore-endpoint \(endpoint): use sqlite://PATH, etcd://HOST:PORT[,HOST:PORT…] or etcds://…")
        }
    }

    /// The snapshot's `source`.
    var kind: String {
        switch self {
        case .sqlite: return "sqlite"
        case .etcd: return "etcd"
        }
    }

    static func defaultSQLitePath(dataDir: String) -> String {
        (dataDir as NSString).appendingPathComponent("server/db/state.db")
    }

    /// Opens the store; the closure closes it.
    func open(logger: Logger) throws -> (store: any Store, close: @Sendable () async throws -> Void) {
        switch self {
        case .sqlite(let path):
            let sqlite = try SQLiteStore(configuration: SQLiteStore.Configuration(path: path), logger: logger)
            return (sqlite, { try sqlite.close() })
        case .etcd(let url, let tls):
            let etcd = try EtcdStore(configuration: EtcdStore.Configuration(url: url, tls: tls), logger: logger)
            return (etcd, { await etcd.close() })
        }
    }
}
