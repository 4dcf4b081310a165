import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import KeelsonEtcdProto
import Logging
import NIOHTTP2
import Synchronization

/// The `Store` protocol on etcd v3, over its gRPC API: the datastore for several API servers. Keys are stored as
/// Kubernetes stores them (`/registry/…`), behind an optional extra `prefix` so several clusters can share one etcd.
///
/// Compare-and-swap writes are etcd transactions on the key's create or modification revision; watches are etcd
/// watches with the previous value, resumed from the last revision seen when the connection breaks. With several
/// endpoints requests go to whichever members are reachable.
public final class EtcdStore: Store {
    /// PEM files for a TLS connection to etcd (`etcds://`): the CA that signed etcd's serving certificate (the
    /// system's roots when nil) and the client certificate and key etcd asks for with `--client-cert-auth`.
    public struct TLSFiles: Sendable, Equatable {
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?

        public init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    public struct Configuration: Sendable {
        public var endpoints: [(host: String, port: Int)]
        /// Prepended to every key (empty by default: keys are already `/registry/…`).
        public var prefix: String
        /// How long a request may wait for etcd's answer before etcd is taken to be unresponsive and the
        /// requests waiting fail as unavailable (`RequestWatchdog`).
        public var requestTimeout: Duration
        /// Talk TLS to etcd (nil: plain HTTP/2).
        public var tls: TLSFiles?

        public init(endpoints: [(host: String, port: Int)], prefix: String = "", requestTimeout: Duration = .seconds(10),
            tls: TLSFiles? = nil)
        {
            self.endpoints = endpoints
            self.prefix = prefix
            self.requestTimeout = requestTimeout
            self.tls = tls
        }

        /// `etcd://HOST:PORT[,HOST:PORT…][/PREFIX]`, or `etcds://…` for TLS, as `--datastore-endpoint` takes it.
        /// Certificate files go with `etcds://` only: a plain endpoint given a client certificate is refused rather
        /// than silently sending it nowhere.
        public init(url: String, tls files: TLSFiles = TLSFiles()) throws {
            let secure = url.hasPrefix("etcds://")
            guard secure || url.hasPrefix("etcd://") else {
                throw StoreError(.internal, message: "an etcd endpoint starts with etcd:// or etcds:// (got \(url))")
            }
            if !secure && files != TLSFiles() {
                throw StoreError(.internal, message: "etcd certificate files need an etcds:// endpoint (got \(url))")
            }
            if (files.certFile == nil) != (files.keyFile == nil) {
                throw StoreError(.internal, message: "an etcd client certificate needs both its certificate and key files")
            }
            for path in [files.caFile, files.certFile, files.keyFile].compactMap({ $0 })
            where !FileManager.default.isReadableFile(atPath: path) {
                throw StoreError(.internal, message: "cannot read \(path)")
            }
            var rest = url.dropFirst(secure ? "etcds://".count : "etcd://".count)
            var prefix = ""
            if let slash = rest.firstIndex(of: "/") {
                prefix = String(rest[slash...])
                rest = rest[..<slash]
                if prefix == "/" { prefix = "" }
            }
            var endpoints: [(String, Int)] = []
            for part in rest.split(separator: ",") {
                let pieces = part.split(separator: ":")
                guard pieces.count == 2, let port = Int(pieces[1]), !pieces[0].isEmpty else {
                    throw StoreError(.internal, message: "an etcd endpoint is HOST:PORT (got \(part))")
                }
                endpoints.append((String(pieces[0]), port))
            }
            guard !endpoints.isEmpty else { throw StoreError(.internal, message: "no etcd endpoint in \(url)") }
            self.init(endpoints: endpoints, prefix: prefix, tls: secure ? files : nil)
        }

        var transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
            guard let tls else { return .plaintext }
            return .tls(.defaults { config in
                if let ca = tls.caFile { config.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
                if let cert = tls.certFile, let key = tls.keyFile {
                    config.certificateChain = [.file(path: cert, format: .pem)]
                    config.privateKey = .file(path: key, format: .pem)
                }
            })
        }
    }

    typealias Transport = HTTP2ClientTransport.Posix

    let configuration: Configuration
    /// Requests and watches on connections of their own: a burst of requests does not delay watch events, and a
    /// watch stream's trouble does not fail requests.
    private let grpc: [GRPCClient<Transport>]
    private let kv: Etcdserverpb_KV.Client<Transport>
    private let watcher: Etcdserverpb_Watch.Client<Transport>
    private let leases: Etcdserverpb_Lease.Client<Transport>
    private let watchdog: RequestWatchdog
    private let currentLease = Mutex<GrantedLease?>(nil)
    /// Open watches, ended by `close()`: the transport's graceful shutdown waits for every open stream.
    private let watches = Mutex<[UInt64: Task<Void, Never>]>([:])
    private let nextWatch = Atomic<UInt64>(0)
    private let connections: Task<Void, Never>
    private let logger: Logger
    /// The newest compaction this store has made or been told about (etcd does not answer it directly).
    private let knownCompaction = Atomic<Int64>(0)

    public init(configuration: Configuration, logger: Logger = Logger(label: "keelson.etcd")) throws {
        self.configuration = configuration
        self.logger = logger
        // Addresses are given as addresses: the transport would otherwise send an IP as the TLS server name,
        // which TLS does not allow (the certificate is still checked against the address).
        let literal = configuration.endpoints.allSatisfy { Self.isIPv4($0.host) }
        let target: any ResolvableTarget = configuration.endpoints.count == 1 && !literal
            ? .dns(host: configuration.endpoints[0].host, port: configuration.endpoints[0].port)
            : .ipv4(pairs: configuration.endpoints)
        // Round robin keeps a connection to every member and sends each request to one that is ready, so a dead
        // member costs nothing but its share of retries (pick-first stays with the first endpoint).
        let watchdog = RequestWatchdog(timeout: configuration.requestTimeout)
        self.watchdog = watchdog
        let clients = try [true, false].map { forRequests in
            GRPCClient(transport: try HTTP2ClientTransport.Posix(target: target, transportSecurity: configuration.transportSecurity,
                config: .defaults { config in
                    // The transport's only hook into its pipeline; EtcdPingResponder says why it is needed.
                    config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                        if forRequests { watchdog.track(channel) }
                        return channel.eventLoop.submit {
                            let pipeline = channel.pipeline.syncOperations
                            let http2 = try pipeline.handler(type: NIOHTTP2Handler.self)
                            try pipeline.addHandler(EtcdPingResponder(), position: .before(http2))
                        }
                    }
                },
                serviceConfig: ServiceConfig(loadBalancingConfig: [.roundRobin])))
        }
        self.grpc = clients
        self.kv = Etcdserverpb_KV.Client(wrapping: clients[0])
        self.watcher = Etcdserverpb_Watch.Client(wrapping: clients[1])
        self.leases = Etcdserverpb_Lease.Client(wrapping: clients[0])
        self.connections = Task {
            await withDiscardingTaskGroup { group in
                for client in clients { group.addTask { try? await client.runConnections() } }
                group.addTask {
                    await watchdog.run { waited in
                        logger.warning("etcd did not answer; reconnecting", metadata: ["waited": "\(waited)"])
                    }
                }
            }
        }
    }

    static func isIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    deinit {
        // The watchdog's loop runs until cancelled; the clients stop once shut down.
        connections.cancel()
        for client in grpc { client.beginGracefulShutdown() }
    }

    /// Ends open watches and closes the connections; the store answers nothing afterwards.
    public func close() async {
        connections.cancel()
        for task in watches.withLock({ $0.values }) { task.cancel() }
        for client in grpc { client.beginGracefulShutdown() }
        await connections.value
    }

    // MARK: Keys

    private func storedKey(_ key: String) -> Data { Data((configuration.prefix + key).utf8) }

    private func userKey(_ data: Data) -> String {
        let full = String(decoding: data, as: UTF8.self)
        return full.hasPrefix(configuration.prefix) ? String(full.dropFirst(configuration.prefix.count)) : full
    }

    /// The first key after every key with this prefix: etcd's range end for a prefix.
    static func rangeEnd(_ prefix: Data) -> Data {
        var bytes = Array(prefix)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        return Data([0])
    }

    private func value(_ kv: Etcdserverpb_KeyValue) -> StoredValue {
        StoredValue(key: userKey(kv.key), value: Array(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision)
    }

    /// No per-call deadline (`RequestWatchdog` says why); a dead etcd fails calls at once (`waitForReady` off: no
    /// queueing for a connection that is not there), an unresponsive one through the watchdog.
    private var options: CallOptions {
        var options = CallOptions.defaults
        options.waitForReady = false
        // gRPC's default cap of 4 MiB per answer would fail lists of a few thousand objects; kube-apiserver
        // lifts it the same way. This transport applies the request limit to what it decodes too.
        options.maxResponseMessageBytes = Int(Int32.max)
        options.maxRequestMessageBytes = Int(Int32.max)
        return options
    }

    /// Runs one request, turning etcd's and gRPC's failures into `StoreError`s. Reads are retried twice when the
    /// connection failed under them (a member going away, a stream reset), as etcd's own client does; writes are
    /// not, since a write whose answer was lost may have been applied.
    private func call<T: Sendable>(_ key: String = "", read: Bool = false, _ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            let request = watchdog.begin()
            defer { watchdog.end(request) }
            do {
                return try await body()
            } catch let error as RPCError where read && error.code == .unavailable && attempt < 2 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(100 * attempt))
            } catch let error as RPCError {
                throw await translate(error, key: key)
            }
        }
    }

    private func translate(_ error: RPCError, key: String) async -> StoreError {
        var failure = storeError(error, key: key)
        if case .futureRevision = failure.code, let current = try? await currentRevision() {
            failure.code = .futureRevision(currentRevision: current)
        }
        return failure
    }

    private func storeError(_ error: RPCError, key: String) -> StoreError {
        let message = error.message
        if message.contains("required revision has been compacted") {
            return StoreError(.compacted(compactedRevision: knownCompaction.load(ordering: .relaxed)), key: key,
                message: "required revision has been compacted", cause: error)
        }
        if message.contains("database space exceeded") {
            // etcd's NOSPACE alarm: its quota is full, and it refuses writes (not reads) until an operator compacts,
            // defragments and disarms the alarm. Not transient, so not a 503.
            return StoreError(.internal, key: key, message: "etcd's storage quota is full (\(message)): writes are "
                + "refused until etcd is compacted, defragmented and its NOSPACE alarm disarmed; reads go on", cause: error)
        }
        if message.contains("required revision is a future revision") {
            return StoreError(.futureRevision(currentRevision: 0), key: key, message: message, cause: error)
        }
        switch error.code {
        case .unavailable, .deadlineExceeded, .cancelled, .aborted, .resourceExhausted:
            return StoreError(.unavailable, key: key, message: "etcd: \(message)", cause: error)
        default:
            return StoreError(.internal, key: key, message: "etcd: \(message)", cause: error)
        }
    }

    // MARK: Reads

    public func currentRevision() async throws -> Int64 {
        // Any read answers the store's revision; one of the key "\0" (etcd refuses an empty key) costs nothing.
        var request = Etcdserverpb_RangeRequest()
        request.key = Data([0])
        request.countOnly = true
        let response = try await call(read: true) { try await kv.range(request, options: options) }
        return response.header.revision
    }

    public func get(_ key: String, at revision: Int64?) async throws -> StoredValue? {
        var request = Etcdserverpb_RangeRequest()
        request.key = storedKey(key)
        request.revision = revision ?? 0
        let response = try await call(key, read: true) { try await kv.range(request, options: options) }
        return response.kvs.first.map(value)
    }

    public func range(prefix: String, at revision: Int64?, startAfter: String?, limit: Int?) async throws -> StoredRange {
        var request = Etcdserverpb_RangeRequest()
        let stored = storedKey(prefix)
        request.key = startAfter.map { storedKey($0) + Data([0]) } ?? stored
        request.rangeEnd = Self.rangeEnd(stored)
        request.limit = Int64(limit ?? 0)
        request.revision = revision ?? 0
        let response = try await call(prefix, read: true) { try await kv.range(request, options: options) }
        return StoredRange(items: response.kvs.map(value), revision: revision ?? response.header.revision, more: response.more)
    }

    // MARK: Writes

    private func compare(_ key: String, _ target: Etcdserverpb_Compare.CompareTarget, equals revision: Int64) -> Etcdserverpb_Compare {
        var compare = Etcdserverpb_Compare()
        compare.key = storedKey(key)
        compare.target = target
        compare.result = .equal
        if target == .create { compare.createRevision = revision } else { compare.modRevision = revision }
        return compare
    }

    private func put(_ key: String, _ value: [UInt8], lease: Int64) -> Etcdserverpb_RequestOp {
        var put = Etcdserverpb_PutRequest()
        put.key = storedKey(key)
        put.value = Data(value)
        put.lease = lease
        var op = Etcdserverpb_RequestOp()
        op.requestPut = put
        return op
    }

    private func read(_ key: String) -> Etcdserverpb_RequestOp {
        var range = Etcdserverpb_RangeRequest()
        range.key = storedKey(key)
        range.keysOnly = true
        var op = Etcdserverpb_RequestOp()
        op.requestRange = range
        return op
    }

    public func create(_ key: String, value: [UInt8], ttl: Duration?) async throws -> Int64 {
        let response = try await withLease(ttl) { lease in
            var txn = Etcdserverpb_TxnRequest()
            txn.compare = [compare(key, .create, equals: 0)]
            txn.success = [put(key, value, lease: lease)]
            return try await call(key) { try await kv.txn(txn, options: options) }
        }
        guard response.succeeded else { throw StoreError(.keyExists, key: key, message: "key exists") }
        return response.header.revision
    }

    public func update(_ key: String, value: [UInt8], ifModRevision: Int64, ttl: Duration?) async throws -> Int64 {
        let response = try await withLease(ttl) { lease in
            var txn = Etcdserverpb_TxnRequest()
            txn.compare = [compare(key, .mod, equals: ifModRevision)]
            txn.success = [put(key, value, lease: lease)]
            txn.failure = [read(key)]
            return try await call(key) { try await kv.txn(txn, options: options) }
        }
        guard response.succeeded else { throw failure(of: response, key: key) }
        return response.header.revision
    }

    /// etcd expires keys itself, through their leases.
    public func removeExpired() async throws -> Int { 0 }

    // MARK: Leases

    struct GrantedLease: Sendable {
        var id: Int64
        var expires: ContinuousClock.Instant
    }

    /// Runs `body` with a lease that outlives `ttl` (0: no lease). A lease that etcd no longer has (revoked, or
    /// expired while idle) is forgotten and a new one granted, once.
    private func withLease<T>(_ ttl: Duration?, _ body: (Int64) async throws -> T) async throws -> T {
        guard let ttl else { return try await body(0) }
        do {
            return try await body(try await lease(outliving: ttl))
        } catch let error as StoreError where error.message.contains("requested lease not found") {
            currentLease.withLock { $0 = nil }
            return try await body(try await lease(outliving: ttl))
        }
    }

    /// One lease serves every key written within a short window, as kube-apiserver's lease manager does: a lease
    /// per Event would cost etcd a lease record and a grant round trip per write. A lease is reused while it
    /// outlives the requested time to live but by no more than the reuse window (5% of it, at most a minute), so
    /// a key lives at least its `ttl` and at most the window longer.
    func lease(outliving ttl: Duration) async throws -> Int64 {
        let now = ContinuousClock.now
        let window = min(ttl * 0.05, .seconds(60))
        if let reusable = currentLease.withLock({ lease -> Int64? in
            // The second bound allows the second that the grant's rounding up adds.
            guard let lease, now + ttl < lease.expires, lease.expires <= now + ttl + window + .seconds(1) else { return nil }
            return lease.id
        }) {
            return reusable
        }
        let seconds = Int64((ttl + window).components.seconds) + 1
        var request = Etcdserverpb_LeaseGrantRequest()
        request.ttl = seconds
        let response = try await call { try await leases.leaseGrant(request, options: options) }
        guard response.error.isEmpty else {
            throw StoreError(.unavailable, message: "etcd refused a lease: \(response.error)")
        }
        // etcd may raise a short TTL to its minimum; the lease then lives longer than asked, never shorter.
        let granted = GrantedLease(id: response.id, expires: now + .seconds(min(seconds, response.ttl)))
        currentLease.withLock { $0 = granted }
        return granted.id
    }

    public func delete(_ key: String, ifModRevision: Int64?) async throws -> StoredValue {
        var delete = Etcdserverpb_DeleteRangeRequest()
        delete.key = storedKey(key)
        delete.prevKv = true
        var op = Etcdserverpb_RequestOp()
        op.requestDeleteRange = delete
        var txn = Etcdserverpb_TxnRequest()
        if let ifModRevision { txn.compare = [compare(key, .mod, equals: ifModRevision)] }
        txn.success = [op]
        txn.failure = [read(key)]
        let response = try await call(key) { try await kv.txn(txn, options: options) }
        guard response.succeeded else { throw failure(of: response, key: key) }
        guard let previous = response.responses.first?.responseDeleteRange.prevKvs.first else {
            throw StoreError(.notFound, key: key, message: "key not found")
        }
        var deleted = value(previous)
        deleted.modRevision = response.header.revision
        return deleted
    }

    /// Why a conditional write did not apply: the key is gone, or it changed.
    private func failure(of response: Etcdserverpb_TxnResponse, key: String) -> StoreError {
        let present = !(response.responses.first?.responseRange.kvs.isEmpty ?? true)
        return present ? StoreError(.conflict, key: key, message: "the object has been modified")
            : StoreError(.notFound, key: key, message: "key not found")
    }

    public func compact(through revision: Int64) async throws {
        var request = Etcdserverpb_CompactionRequest()
        request.revision = revision
        do {
            _ = try await call { try await kv.compact(request, options: options) }
        } catch let error as StoreError {
            // Compacting what is already compacted is done.
            guard case .compacted = error.code else { throw error }
        }
        knownCompaction.max(revision)
    }

    public func compactedRevision() async throws -> Int64 { knownCompaction.load(ordering: .relaxed) }

    // MARK: Watch

    public func watch(prefix: String, after revision: Int64) -> AsyncThrowingStream<StoreEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: StoreEvent.self)
        let id = nextWatch.add(1, ordering: .relaxed).newValue
        // Registered under the lock the task's own removal takes, so a watch that ends at once is still removed.
        let task = watches.withLock { watches in
            let task = Task {
                await follow(prefix: prefix, after: revision, into: continuation)
                _ = self.watches.withLock { $0.removeValue(forKey: id) }
            }
            watches[id] = task
            return task
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// One etcd watch at a time, from the revision after the last event delivered; a broken stream is resumed
    /// with back-off, a compacted start ends the stream with `.compacted`.
    private func follow(prefix: String, after revision: Int64, into continuation: AsyncThrowingStream<StoreEvent, any Error>.Continuation) async {
        let last = Atomic<Int64>(revision)
        var backoff = Duration.milliseconds(100)
        let stored = storedKey(prefix)
        while !Task.isCancelled {
            var create = Etcdserverpb_WatchCreateRequest()
            create.key = stored
            create.rangeEnd = Self.rangeEnd(stored)
            create.startRevision = last.load(ordering: .relaxed) + 1
            create.prevKv = true
            var message = Etcdserverpb_WatchRequest()
            message.createRequest = create
            let request = message
            let progressed = Atomic<Bool>(false)
            do {
                try await watcher.watch(options: options) { writer in
                    try await writer.write(request)
                    // Keep the request side open until the watch ends.
                    try await Task.sleep(for: .seconds(365 * 24 * 3600))
                } onResponse: { response in
                    for try await message in response.messages {
                        if message.canceled {
                            if message.compactRevision > 0 {
                                self.knownCompaction.max(message.compactRevision)
                                throw StoreError(.compacted(compactedRevision: message.compactRevision),
                                    message: "required revision has been compacted")
                            }
                            throw StoreError(.unavailable, message: "etcd cancelled the watch: \(message.cancelReason)")
                        }
                        for event in message.events {
                            continuation.yield(self.event(event))
                            last.store(event.kv.modRevision, ordering: .relaxed)
                        }
                        progressed.store(true, ordering: .relaxed)
                    }
                }
            } catch let error as StoreError {
                if case .compacted = error.code {
                    continuation.finish(throwing: error)
                    return
                }
            } catch {
                if Task.isCancelled { break }
                logger.debug("etcd watch broken; resuming", metadata: ["prefix": "\(prefix)", "error": "\(error)"])
            }
            if Task.isCancelled { break }
            if progressed.load(ordering: .relaxed) { backoff = .milliseconds(100) }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
        continuation.finish()
    }

    private func event(_ event: Etcdserverpb_Event) -> StoreEvent {
        switch event.type {
        case .delete:
            let previous = event.hasPrevKv ? event.prevKv : event.kv
            return StoreEvent(kind: .delete, value: StoredValue(key: userKey(event.kv.key), value: Array(previous.value),
                createRevision: previous.createRevision, modRevision: event.kv.modRevision), previous: Array(previous.value))
        default:
            return StoreEvent(kind: .put, value: value(event.kv), previous: event.hasPrevKv ? Array(event.prevKv.value) : nil)
        }
    }
}

extension Atomic where Value == Int64 {
    /// Raises the value to `candidate` if that is larger.
    func max(_ candidate: Int64) {
        var current = load(ordering: .relaxed)
        while candidate > current {
            let (exchanged, original) = compareExchange(expected: current, desired: candidate, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
