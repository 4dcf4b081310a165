import ArgumentParser
import Foundation
import KeelsonAPI
import KeelsonStore
import Logging

/// `keelson etcd-snapshot save|restore|ls`: copies of the cluster's whole state, as k3s's command of that name,
/// for either datastore (the name is k3s's; the embedded SQLite store has snapshots too).
struct EtcdSnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etcd-snapshot",
        abstract: "Save, restore and list snapshots of the datastore (SQLite or etcd).",
        subcommands: [Save.self, Restore.self, List.self]
    )

    struct Location: ParsableArguments {
        @Option(help: "(data) Folder to hold state")
        var dataDir: String = "/var/lib/keelson"

        @OptionGroup var datastore: DatastoreFlags

        func resolve() throws -> Datastore {
            do {
                return try Datastore(datastore, dataDir: dataDir)
            } catch {
                throw ValidationError("\(error)")
            }
        }

        func defaultSnapshotDir() -> String {
            (dataDir as NSString).appendingPathComponent("server/db/snapshots")
        }
    }

    struct Save: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a consistent snapshot of the whole keyspace to a file (the server may keep running).")

        @OptionGroup var location: Location

        @Option(help: "Snapshot name; the file is NAME-NODE-UNIXTIME")
        var name: String = "on-demand"

        @Option(help: "Directory for the snapshot (default: DATA_DIR/server/db/snapshots)")
        var dir: String?

        func run() async throws {
            let datastore = try location.resolve()
            if case .sqlite(let path) = datastore, !FileManager.default.fileExists(atPath: path) {
                throw fail("there is no datastore at \(path)")
            }
            let directory = dir ?? location.defaultSnapshotDir()
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node"
            let path = (directory as NSString).appendingPathComponent("\(name)-\(host)-\(Int(Date().timeIntervalSince1970))")
            let (store, close) = try openQuietly(datastore)
            do {
                let summary = try await StoreSnapshot.save(store, source: datastore.kind, to: path)
                try await close()
                print("snapshot \(path) saved: \(summary.keys) keys at revision \(summary.revision), \(summary.bytes) bytes")
            } catch {
                try? await close()
                throw fail("snapshot failed: \(error)")
            }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore a snapshot into an empty datastore: a data directory without one, or an etcd without Keelson keys.",
            discussion: """
                Stop every server first. Into SQLite the keys keep their revisions; into etcd they get etcd's, so \
                restart agents and other clients after restoring there. Events get a fresh --event-ttl.
                """)

        @OptionGroup var location: Location

        @Argument(help: "The snapshot file")
        var snapshot: String

        @Option(help: "How long restored Events are kept")
        var eventTtl: String = "1h"

        func run() async throws {
            let datastore = try location.resolve()
            guard let eventTTL = GoDuration.parse(eventTtl), eventTTL > .zero else {
                throw ValidationError("--event-ttl must be a duration such as 1h, not \(eventTtl)")
            }
            let contents: StoreSnapshot.Contents
            do {
                contents = try StoreSnapshot.read(snapshot)
            } catch {
                throw fail("\(error)")
            }
            let ttl: @Sendable (String) -> Duration? = { $0.hasPrefix("/registry/events/") ? eventTTL : nil }
            do {
                let count: Int
                switch datastore {
                case .sqlite(let path):
                    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                        withIntermediateDirectories: true)
                    count = try SQLiteStore.restore(contents, at: path, ttl: ttl)
                case .etcd:
                    let (store, close) = try openQuietly(datastore)
                    do {
                        count = try await StoreSnapshot.restore(contents, into: store, ttl: ttl)
                        try await close()
                    } catch {
                        try? await close()
                        throw error
                    }
                }
                print("restored \(count) keys from \(snapshot) (taken at revision \(contents.header.revision) from \(contents.header.source))")
            } catch {
                throw fail("restore failed: \(error)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the snapshots in a directory.",
            aliases: ["list"])

        @Option(help: "(data) Folder to hold state")
        var dataDir: String = "/var/lib/keelson"

        @Option(help: "Directory of the snapshots (default: DATA_DIR/server/db/snapshots)")
        var dir: String?

        func run() async throws {
            let directory = dir ?? (dataDir as NSString).appendingPathComponent("server/db/snapshots")
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasSuffix(".part") }.sorted()
            print("NAME\tSIZE\tREVISION\tCREATED\tSOURCE")
            for name in names {
                let path = (directory as NSString).appendingPathComponent(name)
                guard let header = try? StoreSnapshot.header(of: path) else { continue }
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                print("\(name)\t\(size)\t\(header.revision)\t\(header.created)\t\(header.source)")
            }
        }
    }
}

private func openQuietly(_ datastore: Datastore) throws -> (store: any Store, close: @Sendable () async throws -> Void) {
    var logger = Logger(label: "keelson.store")
    logger.logLevel = .error
    return try datastore.open(logger: logger)
}

private func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("keelson: \(message)\n".utf8))
    return ExitCode(1)
}
