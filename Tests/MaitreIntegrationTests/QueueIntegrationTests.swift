import Foundation
import XCTest

/// `queue` on real sockets: the only server of an upstream restarts (its port closed for 0.8 s) under a bounded
/// load of GETs. With `queue 64 timeout=10s` no client sees an error; without a queue the same restart shows
/// clients 502s, as nginx does (which proves the load reaches the closed port).
final class QueueIntegrationTests: ProxyTestCase {
    private struct RestartOutcome {
        var succeeded: Int
        var failed: Int
        var failures: [String]
    }

    /// Four client threads (new connection per request on two, keep-alive on the other two) GET through the
    /// proxy while the backend stops for `downSeconds` and comes back on the same port.
    private func restartUnderLoad(upstreamExtra: String, downSeconds: Double = 0.8) throws -> RestartOutcome {
        var backend = try TestBackend(name: "only", group: group)
        let backendPort = backend.port
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                upstream pool { server 127.0.0.1:\(backendPort); \(upstreamExtra) }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://pool; }
                }
            }
            """)
        let port = try XCTUnwrap(harness).port
        let tally = LoadTally()
        let keptClients = ThreadClients()
        let load = LoadThreads(count: 4, maxIterations: 5_000) { thread, _ in
            do {
                let response: TestHTTPClient.Response
                if thread < 2 {
                    let client = try TestHTTPClient(port: port, timeoutSeconds: 15)
                    response = try client.request("GET", "/", headers: [("Connection", "close")])
                } else {
                    let client = try keptClients.client(thread, port: port)
                    response = try client.request("GET", "/")
                    if response.header("Connection")?.lowercased() == "close" { keptClients.drop(thread) }
                }
                response.status == 200
                    ? tally.success(body: response.text) : tally.failure("status \(response.status)")
            } catch {
                keptClients.drop(thread)
                tally.failure("\(error)")
            }
            usleep(2_000)
        }
        usleep(400_000)
        backend.stop()
        usleep(UInt32(downSeconds * 1_000_000))
        backend = try TestBackend(name: "only", group: group, port: backendPort)
        backends.append(backend)
        usleep(600_000)
        XCTAssertTrue(load.stop(), "a client thread did not finish")
        XCTAssertGreaterThan(backend.requests, 0, "the restarted backend serves again")
        let counts = tally.value
        return RestartOutcome(succeeded: counts.succeeded, failed: counts.failed, failures: counts.failures)
    }

    func testTheQueueCarriesRequestsAcrossARestartOfTheOnlyServer() throws {
        let outcome = try restartUnderLoad(upstreamExtra: "queue 64 timeout=10s;")
        XCTAssertEqual(outcome.failed, 0, "client-visible errors across the restart: \(outcome.failures)")
        XCTAssertGreaterThan(outcome.succeeded, 100)
    }

    /// `default_down=true` (the check module's default): the server gets no request before its first passing
    /// check. Requests that arrive before it wait in the queue and go out when the check brings the server up.
    func testRequestsWaitForTheFirstPassingCheck() throws {
        _ = try singleBackend(upstreamExtra: "check interval=600 rise=1 fall=1 timeout=500 type=http; queue 8 timeout=10s;")
        let started = Date()
        let response = try XCTUnwrap(harness).get("/")
        XCTAssertEqual(response.status, 200, "waited for the check instead of 502: \(response.text)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
    }

    func testWithoutAQueueTheSameRestartShowsClientsErrors() throws {
        let outcome = try restartUnderLoad(upstreamExtra: "")
        XCTAssertGreaterThan(outcome.failed, 0, "the load reached the closed port: nginx's 502s")
        XCTAssertGreaterThan(outcome.succeeded, 100)
    }
}

/// One keep-alive client per load thread; only thread `index` uses entry `index`, the lock guards the dictionary.
private final class ThreadClients: @unchecked Sendable {
    private let lock = NSLock()
    private var clients: [Int: TestHTTPClient] = [:]

    func client(_ index: Int, port: Int) throws -> TestHTTPClient {
        if let existing = lock.withLock({ clients[index] }) { return existing }
        let client = try TestHTTPClient(port: port, timeoutSeconds: 15)
        lock.withLock { clients[index] = client }
        return client
    }

    func drop(_ index: Int) {
        lock.withLock { clients[index] = nil }
    }
}
