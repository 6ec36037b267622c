#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MaitreConfig
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

/// `sticky learn … sync` through a real redis-server: what one maitred instance learns, the others follow (at
/// once by PUBLISH, and by reading the keys when an instance starts or reconnects); Redis going away never
/// stops proxying; a hostile "Redis" never takes the proxy down.
final class StickySyncIntegrationTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var backends: [ScriptedBackend] = []
    var harnesses: [ProxyHarness] = []

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        for harness in harnesses { harness.stop() }
        for backend in backends { backend.channel.close(promise: nil) }
        try? group.syncShutdownGracefully()
    }

    /// Three backends; each sets `sess=NAME-N` on `/login/N` and answers its name.
    private func startBackends() throws {
        backends = try ["a", "b", "c"].map { name in
            try ScriptedBackend(group: group) { path in
                var cookie = ""
                if path.hasPrefix("/login/") { cookie = "Set-Cookie: sess=\(name)-\(path.dropFirst(7)); Path=/\r\n" }
                return [.write(Array("HTTP/1.1 200 OK\r\n\(cookie)Content-Length: 1\r\n\r\n\(name)".utf8))]
            }
        }
    }

    private func config(redis: String, extra: String = "") -> String {
        """
        http {
            access_log off;
            zone_sync_redis \(redis) prefix=test:\(extra);
            upstream app {
                \(backends.map { "server \($0.address);" }.joined(separator: " "))
                sticky learn create=$upstream_cookie_sess lookup=$cookie_sess zone=sessions:1m timeout=1h sync;
            }
            server {
                listen 127.0.0.1:PROXY_PORT;
                location / { proxy_pass http://app; }
                location = /metrics { metrics; }
            }
        }
        """
    }

    /// Logs in through `harness`: the session id and the backend that made it.
    private func login(_ harness: ProxyHarness, _ number: Int) throws -> (session: String, owner: String) {
        let response = try harness.get("/login/\(number)")
        XCTAssertEqual(response.status, 200)
        return ("\(response.text)-\(number)", response.text)
    }

    private func follows(_ harness: ProxyHarness, _ session: String, _ owner: String, times: Int = 12) throws -> Bool {
        for index in 0..<times {
            let response = try harness.get("/page\(index)", headers: [("Cookie", "sess=\(session)")])
            if response.status != 200 || response.text != owner { return false }
        }
        return true
    }

    func testInstancesFollowWhatAnotherLearntAndANewInstanceReadsItAtStart() throws {
        let redis = try TestRedis()
        try startBackends()
        let text = config(redis: redis.address)
        harnesses = [try ProxyHarness(text, workers: 2), try ProxyHarness(text, workers: 2)]
        // Both instances have subscribed once a learning crosses: log in until one does (the first may come
        // before the second instance's subscription).
        var first = try login(harnesses[0], 0)
        XCTAssertTrue(pollUntil(timeout: 10) { (try? self.follows(self.harnesses[1], first.session, first.owner, times: 1)) == true },
                      "instance 2 follows a session instance 1 learnt")
        // Sessions learnt on either instance are followed by the other on every loop, without a wait beyond the
        // PUBLISH: ten logins, alternating, each checked at once on the other instance (after a short settle).
        var sessions: [(session: String, owner: String)] = []
        for number in 1...10 {
            let learntOn = number % 2
            sessions.append(try login(harnesses[learntOn], number))
        }
        XCTAssertTrue(pollUntil(timeout: 5) {
            sessions.enumerated().allSatisfy { index, session in
                (try? self.follows(self.harnesses[(index + 2) % 2], session.session, session.owner, times: 1)) == true
            }
        })
        for (index, session) in sessions.enumerated() {
            XCTAssertTrue(try follows(harnesses[(index + 2) % 2], session.session, session.owner), "\(session)")
        }
        // The owners differ (the method balanced the logins), so following is not luck.
        XCTAssertGreaterThan(Set(sessions.map(\.owner)).count, 1)
        // Redis holds each session with the owner's server ID (the MD5 of its address) and the zone's timeout.
        first = sessions[0]
        let ownerAddress = try XCTUnwrap(backends.first { $0.address.hasSuffix(":\(try port(of: first.owner))") }).address
        let value = try redis.command(["GET", "test:sticky:sessions:\(first.session)"])
        XCTAssertTrue(value.hasSuffix(" " + md5Hex(ownerAddress)), value)
        let ttl = Int(try redis.command(["PTTL", "test:sticky:sessions:\(first.session)"])) ?? -1
        XCTAssertGreaterThan(ttl, 3_500_000)
        XCTAssertLessThanOrEqual(ttl, 3_600_000)

        // A third instance started now reads the zone from Redis: it follows every session at once.
        let late = try ProxyHarness(text, workers: 2)
        harnesses.append(late)
        XCTAssertTrue(pollUntil(timeout: 5) { (try? self.follows(late, sessions[9].session, sessions[9].owner, times: 1)) == true })
        for session in sessions { XCTAssertTrue(try follows(late, session.session, session.owner), "\(session)") }
        // The metrics say so: every link up, what was published, heard and read.
        for harness in harnesses { XCTAssertEqual(try metric(harness, "maitred_sticky_sync_up"), 1) }
        XCTAssertGreaterThanOrEqual(try metric(late, #"maitred_sticky_sync_sessions_total{event="loaded"}"#) ?? 0, 11)
        XCTAssertGreaterThanOrEqual(try metric(harnesses[1], #"maitred_sticky_sync_sessions_total{event="received"}"#) ?? 0, 5)
        XCTAssertGreaterThanOrEqual(try metric(harnesses[1], #"maitred_sticky_sync_sessions_total{event="published"}"#) ?? 0, 5)
    }

    func testRedisOutageKeepsProxyingAndSyncComesBack() throws {
        let redis = try TestRedis()
        try startBackends()
        let text = config(redis: redis.address)
        let a = try ProxyHarness(text, workers: 1, logFileLevel: .notice)
        let b = try ProxyHarness(text, workers: 1)
        harnesses = [a, b]
        let before = try login(a, 0)
        XCTAssertTrue(pollUntil(timeout: 10) { (try? self.follows(b, before.session, before.owner, times: 1)) == true })

        redis.kill()
        // Proxying goes on: logins and follow-ups on one instance work from its own table.
        for number in 1...20 {
            let session = try login(a, number)
            XCTAssertTrue(try follows(a, session.session, session.owner, times: 2))
        }
        XCTAssertTrue(pollUntil(timeout: 5) {
            let log = readFile(a.errorLogPath) ?? ""
            return log.contains("[error]")
                && log.contains("zone_sync_redis: connection to redis \(redis.address) (commands) was closed, retrying")
                && log.contains("zone_sync_redis: connection to redis \(redis.address) (subscriber) was closed, retrying")
        }, readFile(a.errorLogPath) ?? "")
        // The links retry (connect() is refused meanwhile) without a line per retry: one line per link.
        Thread.sleep(forTimeInterval: 1)
        let log = readFile(a.errorLogPath) ?? ""
        XCTAssertEqual(log.components(separatedBy: "zone_sync_redis: ").count - 1, 2, log)
        XCTAssertEqual(try metric(a, "maitred_sticky_sync_up"), 0)
        XCTAssertGreaterThanOrEqual(try metric(a, #"maitred_sticky_sync_sessions_total{event="dropped"}"#) ?? 0, 20)
        // An instance started while Redis is away starts and serves, and says why it cannot share.
        let c = try ProxyHarness(text, workers: 1, logFileLevel: .notice)
        harnesses.append(c)
        XCTAssertEqual(try c.get("/").status, 200)
        XCTAssertTrue(pollUntil(timeout: 5) {
            (readFile(c.errorLogPath) ?? "").contains(
                "zone_sync_redis: connect() to redis \(redis.address) (commands) failed (111: Connection refused), retrying")
        }, readFile(c.errorLogPath) ?? "")

        // Redis comes back (empty: no persistence): the links reconnect and new learnings cross again.
        try redis.start()
        XCTAssertTrue(pollUntil(timeout: 15) { (readFile(a.errorLogPath) ?? "").contains("again") })
        var crossed: (session: String, owner: String)?
        XCTAssertTrue(pollUntil(timeout: 15) {
            guard let session = try? self.login(a, 100 + Int.random(in: 0..<1000)) else { return false }
            crossed = session
            return (try? self.follows(b, session.session, session.owner, times: 1)) == true
        }, "a session learnt after the outage reaches the other instance")
        if let crossed { XCTAssertTrue(try follows(b, crossed.session, crossed.owner)) }
    }

    func testAuthAndDatabaseAreUsed() throws {
        let redis = try TestRedis(arguments: ["--requirepass", "s3cret"])
        try startBackends()
        let text = config(redis: redis.address, extra: " password=s3cret db=3")
        harnesses = [try ProxyHarness(text), try ProxyHarness(text)]
        var session: (session: String, owner: String)?
        XCTAssertTrue(pollUntil(timeout: 10) {
            guard let learnt = try? self.login(self.harnesses[0], Int.random(in: 0..<100_000)) else { return false }
            session = learnt
            return (try? self.follows(self.harnesses[1], learnt.session, learnt.owner, times: 1)) == true
        })
        let learnt = try XCTUnwrap(session)
        XCTAssertEqual(try redis.command(["-n", "3", "EXISTS", "test:sticky:sessions:\(learnt.session)"]), "1")
        XCTAssertEqual(try redis.command(["-n", "0", "EXISTS", "test:sticky:sessions:\(learnt.session)"]), "0")
    }

    /// What an operator lives through: 4 clients log in 1,200 times on two instances at once, each session used at
    /// once on the other instance, while one instance is reloaded 6 times. No request fails, and once the
    /// publications have landed every session is followed by both instances, request for request.
    func testSessionsCrossUnderLoadAndReload() throws {
        let redis = try TestRedis()
        try startBackends()
        let text = config(redis: redis.address)
        let a = try ProxyHarness(text, workers: 2)
        let b = try ProxyHarness(text, workers: 2)
        harnesses = [a, b]
        XCTAssertTrue(pollUntil(timeout: 10) {
            guard let learnt = try? self.login(a, Int.random(in: 100_000..<200_000)) else { return false }
            return (try? self.follows(b, learnt.session, learnt.owner, times: 1)) == true
        }, "both instances subscribed")

        struct Outcome { var sessions: [(String, String)] = []; var failed = 0 }
        let ports = (a.port, b.port)
        let outcomes = NIOLockedValueBox([Outcome](repeating: Outcome(), count: 4))
        let done = DispatchGroup()
        for worker in 0..<4 {
            done.enter()
            Thread {
                defer { done.leave() }
                var outcome = Outcome()
                let started = Date()
                for step in 0..<300 where Date().timeIntervalSince(started) < 60 {
                    let number = worker * 1000 + step
                    let (learnOn, useOn) = step % 2 == 0 ? ports : (ports.1, ports.0)
                    func get(_ port: Int, _ path: String, _ headers: [(String, String)] = []) throws -> TestHTTPClient.Response {
                        try TestHTTPClient(port: port, source: nil, timeoutSeconds: 10).request("GET", path, headers: headers)
                    }
                    do {
                        let response = try get(learnOn, "/login/\(number)")
                        guard response.status == 200 else { outcome.failed += 1; continue }
                        outcome.sessions.append(("\(response.text)-\(number)", response.text))
                        // Used at once on the other instance: answered, wherever it goes before the news lands.
                        let use = try get(useOn, "/use", [("Cookie", "sess=\(response.text)-\(number)")])
                        if use.status != 200 { outcome.failed += 1 }
                    } catch {
                        outcome.failed += 1
                    }
                }
                outcomes.withLockedValue { $0[worker] = outcome }
            }.start()
        }
        for _ in 0..<6 {
            Thread.sleep(forTimeInterval: 0.3)
            try a.reload(text)
        }
        XCTAssertEqual(done.wait(timeout: .now() + 90), .success)
        let all = outcomes.withLockedValue { $0 }
        XCTAssertEqual(all.map(\.failed).reduce(0, +), 0, "no failed request")
        let sessions = all.flatMap(\.sessions)
        XCTAssertEqual(sessions.count, 1200)
        XCTAssertGreaterThan(Set(sessions.map(\.1)).count, 1)
        // Every session, on both instances, reaches its owner.
        var wrong: [String] = []
        XCTAssertTrue(pollUntil(timeout: 10) {
            wrong = []
            for (session, owner) in sessions {
                for harness in [a, b] {
                    guard let response = try? harness.get("/check", headers: [("Cookie", "sess=\(session)")]),
                        response.text == owner
                    else {
                        wrong.append(session)
                        break
                    }
                }
                if wrong.count > 0 { return false }
            }
            return true
        }, "first wrong: \(wrong.prefix(5))")
        XCTAssertEqual(try metric(a, #"maitred_sticky_sync_sessions_total{event="dropped"}"#), 0)
        // Redis holds every one of them.
        XCTAssertEqual(try redis.command(["EXISTS"] + sessions.map { "test:sticky:sessions:\($0.0)" }), "1200")
    }

    /// A hostile "Redis" (garbage, oversized values, forged messages and pages naming real and unknown servers,
    /// silence, tiny pieces) for about 4 s, with fixed seeds: proxying goes on without a failed request, the
    /// links keep reconnecting, and a reload that names a real Redis makes sync work again.
    func testHostileRedisNeverTakesTheProxyDown() throws {
        try startBackends()
        let serverIDs = backends.map { md5Hex($0.address) } + ["0123456789abcdef0123456789abcdef"]
        let hostile = try HostileRedis(group: group, seed: 0xBAD_2ED1, zoneChannel: "test:sticky:sessions", serverIDs: serverIDs)
        defer { hostile.stop() }
        let a = try ProxyHarness(config(redis: hostile.address, extra: " timeout=1s connect_timeout=200ms"), workers: 2)
        harnesses = [a]
        let deadline = Date().addingTimeInterval(4)
        var requests = 0
        var number = 0
        while Date() < deadline && requests < 20_000 {
            number += 1
            let session = try login(a, number)
            XCTAssertEqual(try a.get("/page", headers: [("Cookie", "sess=\(session.session)")]).status, 200)
            // Forged sessions: whatever a forged message made of them, the request is served.
            XCTAssertEqual(try a.get("/forged", headers: [("Cookie", "sess=s\(number % 50)")]).status, 200)
            requests += 3
        }
        XCTAssertGreaterThan(hostile.connections, 6, "the links kept reconnecting")
        XCTAssertGreaterThan(requests, 100)
        let forged = try metric(a, #"maitred_sticky_sync_sessions_total{event="received"}"#) ?? 0
        XCTAssertGreaterThan(forged, 0, "forged messages reached the tables")
        print("hostile redis: \(hostile.connections) connections, \(requests) requests, \(forged) forged sessions taken")

        // Pointed at a real Redis by a reload, instances share again.
        let redis = try TestRedis()
        let text = config(redis: redis.address)
        try a.reload(text)
        let b = try ProxyHarness(text, workers: 2)
        harnesses.append(b)
        XCTAssertTrue(pollUntil(timeout: 10) {
            guard let learnt = try? self.login(a, 1_000_000 + Int.random(in: 0..<1000)) else { return false }
            return (try? self.follows(b, learnt.session, learnt.owner, times: 1)) == true
        })
    }

    /// A series' value on the instance's metrics page.
    private func metric(_ harness: ProxyHarness, _ series: String) throws -> Int? {
        let page = try harness.get("/metrics").text
        guard let line = page.split(separator: "\n").first(where: { $0.hasPrefix(series + " ") }) else { return nil }
        return Int(line.dropFirst(series.count + 1))
    }

    private func port(of name: String) throws -> Int {
        let index = try XCTUnwrap(["a", "b", "c"].firstIndex(of: name))
        return backends[index].port
    }
}
