import Foundation
import MaitreProxy
import NIOConcurrencyHelpers
import NIOPosix
import XCTest

/// Stream sessions as an operator runs them: tens of thousands that must leave nothing behind, and reloads while
/// sessions keep coming.
final class StreamLoadTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var tcpServers: [TCPEchoServer] = []
    var udpServers: [UDPEchoServer] = []
    var harness: ProxyHarness?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        for server in tcpServers { server.stop() }
        for server in udpServers { server.stop() }
        try? group.syncShutdownGracefully()
    }

    private final class Tally: Sendable {
        private let state = NIOLockedValueBox((ok: 0, failures: [String]()))
        var ok: Int { state.withLockedValue { $0.ok } }
        var failures: [String] { state.withLockedValue { $0.failures } }
        func record(_ failure: String?) {
            state.withLockedValue { state in
                if let failure { if state.failures.count < 10 { state.failures.append(failure) } } else { state.ok += 1 }
            }
        }
    }

    /// One TCP session: the greeting, one echoed byte, close. Returns what went wrong, or nil.
    private static func tcpSession(port: Int, expecting names: Set<String>) -> String? {
        do {
            let client = try TestHTTPClient(port: port, timeoutSeconds: 5, scratchSize: 4096)
            let greeting = String(decoding: client.receive(count: 2), as: UTF8.self)
            guard greeting.count == 2, names.contains(String(greeting.prefix(1))) else {
                return "greeting \(greeting.debugDescription)"
            }
            try client.send("x")
            let echo = client.receive(count: 1)
            return echo == [UInt8(ascii: "x")] ? nil : "echo \(echo)"
        } catch {
            return "\(error)"
        }
    }

    func testTwentyThousandTCPSessionsLeaveNothingBehind() throws {
        guard let baseline = LiveObjects.count(.streamSession) else {
            throw XCTSkip("LiveObjects counts only in debug builds")
        }
        let a = try TCPEchoServer(name: "A", group: group)
        tcpServers = [a]
        let harness = try ProxyHarness("""
            stream {
                upstream backend { server \(a.address); }
                server { listen 127.0.0.1:PROXY_PORT; proxy_pass backend; }
            }
            """)
        self.harness = harness
        let port = harness.port

        func phase(_ name: String, count: Int) -> Bool {
            let tally = Tally()
            let run = runOnThreads(workers: 8, count: count, budget: 90) { _ in
                tally.record(Self.tcpSession(port: port, expecting: ["A"]))
            }
            XCTAssertTrue(run.finishedInTime, name)
            XCTAssertEqual(tally.ok, count, "\(name): \(tally.failures)")
            let released = pollUntil(timeout: 10) { LiveObjects.count(.streamSession) == baseline }
            XCTAssertTrue(released, "\(name): \(LiveObjects.count(.streamSession)! - baseline) sessions still alive")
            return tally.ok == count && released
        }
        guard phase("warm-up", count: 2_000) else { return }
        let warm = try residentMemory()
        guard phase("load", count: 20_000) else { return }
        let end = try residentMemory()
        print("stream leak test RSS: after warm-up \(warm / 1_048_576) MiB, after 20,000 sessions \(end / 1_048_576) MiB")
        XCTAssertLessThan(end - warm, 8 * 1_048_576, "RSS grew by \(end - warm) bytes over 20,000 sessions")
    }

    func testTwoThousandUDPSessionsEndAndLeaveNothingBehind() throws {
        guard let baseline = LiveObjects.count(.streamSession) else {
            throw XCTSkip("LiveObjects counts only in debug builds")
        }
        let a = try UDPEchoServer(name: "A", group: group)
        udpServers = [a]
        let harness = try ProxyHarness("""
            stream {
                upstream dns { server \(a.address); }
                server { listen 127.0.0.1:PROXY_PORT udp; proxy_pass dns; proxy_responses 1; }
            }
            """)
        self.harness = harness
        let port = harness.port
        let tally = Tally()
        let run = runOnThreads(workers: 4, count: 2_000, budget: 60) { index in
            do {
                let client = try TestUDPClient()
                client.send("n\(index)", to: port)
                let answer = client.receive()
                tally.record(answer == "A:n\(index)" ? nil : "answer \(String(describing: answer))")
            } catch {
                tally.record("\(error)")
            }
        }
        XCTAssertTrue(run.finishedInTime)
        XCTAssertEqual(tally.ok, 2_000, "\(tally.failures)")
        XCTAssertTrue(pollUntil(timeout: 10) { LiveObjects.count(.streamSession) == baseline },
                      "\(LiveObjects.count(.streamSession)! - baseline) UDP sessions still alive")
    }

    func testReloadsUnderLoadLoseNoSession() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        let b = try TCPEchoServer(name: "B", group: group)
        tcpServers = [a, b]
        func config(_ server: TCPEchoServer) -> String {
            """
            stream {
                upstream backend { server \(server.address); }
                server { listen 127.0.0.1:PROXY_PORT; proxy_pass backend; }
            }
            """
        }
        let harness = try ProxyHarness(config(a))
        self.harness = harness
        let port = harness.port
        let tally = Tally()
        let stop = NIOLockedValueBox(false)
        let done = DispatchGroup()
        for _ in 0..<4 {
            done.enter()
            Thread {
                var sessions = 0
                while !stop.withLockedValue({ $0 }) && sessions < 20_000 {
                    tally.record(Self.tcpSession(port: port, expecting: ["A", "B"]))
                    sessions += 1
                }
                done.leave()
            }.start()
        }
        for index in 0..<20 {
            usleep(100_000)
            try harness.reload(config(index % 2 == 0 ? b : a))
        }
        stop.withLockedValue { $0 = true }
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        print("stream reload test: \(tally.ok) sessions over 20 reloads")
        XCTAssertEqual(tally.failures, [], "sessions lost across reloads")
        XCTAssertGreaterThan(tally.ok, 100)
        XCTAssertGreaterThan(a.connections, 0)
        XCTAssertGreaterThan(b.connections, 0)
    }
}
