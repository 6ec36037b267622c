import Foundation
import NIOCore
import NIOPosix
import XCTest

/// The `maitred` binary itself: -t/-T output and exit codes, signals through -s and the pid file.
final class ProcessTests: XCTestCase {
    var directory = ""
    var group: MultiThreadedEventLoopGroup!
    var backends: [TestBackend] = []
    var process: Process?

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: MaitredBinary.path), "build maitred first")
    }

    override func tearDown() {
        if let process, process.isRunning {
            process.terminate()
            if !MaitredBinary.waitForExit(process, timeout: 5) {
                kill(process.processIdentifier, SIGKILL)
                _ = MaitredBinary.waitForExit(process, timeout: 5)
            }
        }
        for b in backends { b.stop() }
        try? group.syncShutdownGracefully()
        removeDirectory(directory)
    }

    private func config(proxyPort: Int, backend: TestBackend, extra: String = "") -> String {
        """
        worker_processes 1;
        pid \(directory)/maitred.pid;
        error_log \(directory)/error.log info;
        events { worker_connections 128; }
        http {
            access_log \(directory)/access.log;
            upstream app { server \(backend.address); }
            server {
                listen 127.0.0.1:\(proxyPort);
                \(extra)
                location / { proxy_pass http://app; }
            }
        }
        """
    }

    /// -t on a good file: nginx's two lines on stderr, nothing on stdout, exit 0.
    func testTestGoodConfig() throws {
        let backend = try TestBackend(name: "a", group: group)
        backends = [backend]
        try writeFile(directory + "/maitre.conf", config(proxyPort: 8080, backend: backend))
        let r = try MaitredBinary.run(["-t", "-c", directory + "/maitre.conf"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderr, """
            maitred: the configuration file \(directory)/maitre.conf syntax is ok
            maitred: configuration file \(directory)/maitre.conf test is successful

            """)
    }

    /// -t on a bad file names the directive, file and line, and exits 1.
    func testTestBadConfigNamesFileAndLine() throws {
        try writeFile(directory + "/maitre.conf", "events { }\nhttp {\n    proxy_pas http://x;\n}\n")
        let r = try MaitredBinary.run(["-t", "-c", directory + "/maitre.conf"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(r.stderr, """
            maitred: [emerg] unknown directive "proxy_pas" in \(directory)/maitre.conf:3
            maitred: configuration file \(directory)/maitre.conf test failed

            """)
    }

    /// -g adds main-context directives; an error in them is reported "in command line".
    func testGlobalDirectives() throws {
        let backend = try TestBackend(name: "a", group: group)
        backends = [backend]
        try writeFile(directory + "/maitre.conf", "events { }\nhttp { upstream app { server \(backend.address); } }\n")
        let good = try MaitredBinary.run(["-t", "-q", "-c", directory + "/maitre.conf", "-g", "worker_processes 2;"])
        XCTAssertEqual(good.status, 0)
        XCTAssertEqual(good.stderr, "", "-q keeps a successful test quiet")
        let bad = try MaitredBinary.run(["-t", "-c", directory + "/maitre.conf", "-g", "bogus on;"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("maitred: [emerg] unknown directive \"bogus\" in command line\n"), bad.stderr)
    }

    /// -p sets the prefix: the default configuration file is `<prefix>/conf/maitre.conf`.
    func testPrefixLocatesDefaultConfig() throws {
        mkdir(directory + "/conf", 0o755)
        try writeFile(directory + "/conf/maitre.conf", "http { server { listen 127.0.0.1:8080; } }\n")
        let r = try MaitredBinary.run(["-t", "-p", directory])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(directory)/conf/maitre.conf syntax is ok"), r.stderr)
    }

    /// Running with a bad file fails the same way without starting.
    func testRunWithBadConfigExits1() throws {
        try writeFile(directory + "/maitre.conf", "http {\n  upstream x { server 127.0.0.1:1 weight=0; }\n}\n")
        let r = try MaitredBinary.run(["-c", directory + "/maitre.conf"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("maitred: [emerg] "), r.stderr)
        XCTAssertTrue(r.stderr.contains("\(directory)/maitre.conf:2"), r.stderr)
    }

    /// -T dumps the configuration to stdout after the test lines.
    func testDumpConfig() throws {
        let backend = try TestBackend(name: "a", group: group)
        backends = [backend]
        let text = config(proxyPort: 8080, backend: backend)
        try writeFile(directory + "/maitre.conf", text)
        let r = try MaitredBinary.run(["-T", "-c", directory + "/maitre.conf"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "# configuration file \(directory)/maitre.conf:\n\(text)\n")
    }

    /// -v, -h and a bad option, nginx style.
    func testVersionHelpAndBadOption() throws {
        let v = try MaitredBinary.run(["-v"])
        XCTAssertEqual(v.status, 0)
        XCTAssertTrue(v.stderr.hasPrefix("maitred version: maitre/"), v.stderr)
        XCTAssertEqual(v.stdout, "")
        let bad = try MaitredBinary.run(["-x"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr, "maitred: invalid option: \"x\"\n")
        let missing = try MaitredBinary.run(["-c"])
        XCTAssertEqual(missing.stderr, "maitred: option \"-c\" requires file name\n")
    }

    /// Runs, proxies, reloads to a new backend on `-s reload`, and stops on `-s quit`, removing its pid file.
    func testRunReloadAndQuitThroughPidFile() throws {
        let first = try TestBackend(name: "first", group: group)
        let second = try TestBackend(name: "second", group: group)
        backends = [first, second]
        let port = try freeLoopbackPort()
        let file = directory + "/maitre.conf"
        try writeFile(file, config(proxyPort: port, backend: first))
        process = try MaitredBinary.start(["-c", file], directory: directory)
        XCTAssertTrue(MaitredBinary.waitForPort(port), readFile(directory + "/stderr") ?? "")
        XCTAssertTrue(MaitredBinary.waitForSignalHandlers(pid: process!.processIdentifier), "signal handling ready")
        XCTAssertEqual(try TestHTTPClient(port: port).request("GET", "/").text, "first\n")
        let pid = readFile(directory + "/maitred.pid")?.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(pid, String(process!.processIdentifier))

        try writeFile(file, config(proxyPort: port, backend: second))
        let reload = try MaitredBinary.run(["-s", "reload", "-c", file])
        XCTAssertEqual(reload.status, 0, reload.stderr)
        var answered = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            answered = (try? TestHTTPClient(port: port).request("GET", "/").text) ?? ""
            if answered == "second\n" { break }
            usleep(50_000)
        }
        XCTAssertEqual(answered, "second\n")

        // A bad config on reload (SIGHUP) is refused and the old one keeps serving. (`-s reload` itself reads the
        // config to find the pid file, so with a broken file it fails before signalling, as nginx's does.)
        try writeFile(file, "http { bogus; }\n")
        XCTAssertEqual(try MaitredBinary.run(["-s", "reload", "-c", file]).status, 1)
        kill(process!.processIdentifier, SIGHUP)
        // The refusal is logged once the reload was tried: only then does serving "second" mean the old config kept it.
        XCTAssertTrue(pollUntil(timeout: 10) {
            readFile(self.directory + "/error.log")?.contains("unknown directive \"bogus\"") ?? false
        }, "the bad reload is logged")
        XCTAssertEqual(try TestHTTPClient(port: port).request("GET", "/").text, "second\n")

        try writeFile(file, config(proxyPort: port, backend: second))
        // -s reopen: after the log is moved away, maitred writes a new one (log rotation).
        XCTAssertEqual(rename(directory + "/error.log", directory + "/error.log.1"), 0)
        XCTAssertEqual(try MaitredBinary.run(["-s", "reopen", "-c", file]).status, 0)
        var reopened = false
        let reopenDeadline = Date().addingTimeInterval(10)
        while !reopened && Date() < reopenDeadline {
            reopened = FileManager.default.fileExists(atPath: directory + "/error.log")
            usleep(50_000)
        }
        XCTAssertTrue(reopened, "a fresh error.log after -s reopen")

        XCTAssertEqual(try MaitredBinary.run(["-s", "quit", "-c", file]).status, 0)
        XCTAssertTrue(MaitredBinary.waitForExit(process!, timeout: 15))
        XCTAssertEqual(MaitredBinary.exitStatus(process!), 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/maitred.pid"))
        XCTAssertEqual(readFile(directory + "/stdout"), "", "maitred writes nothing on stdout")
    }

    /// SIGQUIT lets an in-flight request finish: the signal is sent once the backend holds the request, and the
    /// response, which arrives 1.5 s later, says `Connection: close` (the connection was told to finish, so the
    /// signal was handled before the response was written).
    func testSigquitLetsInFlightRequestFinish() throws {
        let backend = try TestBackend(name: "slow", group: group)
        backends = [backend]
        let port = try freeLoopbackPort()
        let file = directory + "/maitre.conf"
        try writeFile(file, config(proxyPort: port, backend: backend))
        process = try MaitredBinary.start(["-c", file], directory: directory)
        XCTAssertTrue(MaitredBinary.waitForPort(port))
        XCTAssertTrue(MaitredBinary.waitForSignalHandlers(pid: process!.processIdentifier), "signal handling ready")
        let client = try TestHTTPClient(port: port)
        try client.send("GET /slow/1500 HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertTrue(pollUntil(timeout: 5) { backend.requests == 1 }, "the request reached the backend")
        kill(process!.processIdentifier, SIGQUIT)
        let response = try client.readResponse()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.text, "slow\n")
        XCTAssertEqual(response.header("connection"), "close")
        XCTAssertTrue(MaitredBinary.waitForExit(process!, timeout: 15))
        XCTAssertEqual(MaitredBinary.exitStatus(process!), 0)
        XCTAssertTrue(readFile(directory + "/error.log")?.contains("gracefully shutting down") ?? false,
                      readFile(directory + "/error.log") ?? "no error.log")
    }

    /// SIGTERM stops at once, even with a request in flight: the backend holds /slow/3000, maitred exits within
    /// 2 s of the signal (a graceful drain would wait for the response, at least 3 s), and the client gets its
    /// connection closed without a byte of response.
    func testSigtermStopsAtOnceWithRequestInFlight() throws {
        let backend = try TestBackend(name: "slow", group: group)
        backends = [backend]
        let port = try freeLoopbackPort()
        let file = directory + "/maitre.conf"
        try writeFile(file, config(proxyPort: port, backend: backend))
        process = try MaitredBinary.start(["-c", file], directory: directory)
        XCTAssertTrue(MaitredBinary.waitForPort(port))
        XCTAssertTrue(MaitredBinary.waitForSignalHandlers(pid: process!.processIdentifier), "signal handling ready")
        let client = try TestHTTPClient(port: port, timeoutSeconds: 10)
        try client.send("GET /slow/3000 HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertTrue(pollUntil(timeout: 5) { backend.requests == 1 }, "the request reached the backend")
        let signalled = Date()
        kill(process!.processIdentifier, SIGTERM)
        XCTAssertTrue(MaitredBinary.waitForExit(process!, timeout: 10))
        let exitedAfter = Date().timeIntervalSince(signalled)
        XCTAssertLessThan(exitedAfter, 2.0, "maitred took \(exitedAfter) s to stop on SIGTERM")
        XCTAssertEqual(MaitredBinary.exitStatus(process!), 0)
        let (bytes, end) = client.readUntilClose()
        XCTAssertEqual(bytes.count, 0, "no response: \(String(decoding: bytes, as: UTF8.self))")
        XCTAssertTrue(end == .eof || end == .reset, "the connection was closed, not left open (\(end))")
    }

    /// `daemon on`: the command returns 0 once the detached process serves; the pid file names that process,
    /// which keeps serving and stops on SIGTERM. A bind failure still reaches the terminal and the exit code.
    func testDaemonOnDetachesAfterListening() throws {
        let backend = try TestBackend(name: "a", group: group)
        backends = [backend]
        let port = try freeLoopbackPort()
        let file = directory + "/maitre.conf"
        try writeFile(file, "daemon on;\nmaster_process on;\n" + config(proxyPort: port, backend: backend))
        let started = try MaitredBinary.run(["-c", file])
        XCTAssertEqual(started.status, 0, started.stderr)
        guard let text = readFile(directory + "/maitred.pid"),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else {
            return XCTFail("no pid file after daemon start")
        }
        defer {
            kill(pid, SIGKILL)  // in case an assertion below failed before the orderly stop
        }
        XCTAssertEqual(try TestHTTPClient(port: port).request("GET", "/").text, "a\n")
        XCTAssertTrue(MaitredBinary.waitForSignalHandlers(pid: pid), "signal handling ready")
        XCTAssertEqual(kill(pid, SIGTERM), 0)
        var gone = false
        let deadline = Date().addingTimeInterval(10)
        while !gone && Date() < deadline {
            gone = kill(pid, 0) != 0
            if !gone { usleep(20_000) }
        }
        XCTAssertTrue(gone, "the daemon did not stop on SIGTERM")

        // The port is taken by a listener of ours: the daemon cannot bind and says so before detaching.
        let (blocker, blockedPort) = try bindLoopbackSocket(listenBacklog: 1)
        defer { close(blocker) }
        try writeFile(file, "daemon on;\n" + config(proxyPort: blockedPort, backend: backend))
        let failed = try MaitredBinary.run(["-c", file])
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(failed.stderr.contains("bind() to 127.0.0.1:\(blockedPort) failed (98: "), failed.stderr)
    }

    /// nginx's flag errors for the process directives.
    func testDaemonFlagErrors() throws {
        try writeFile(directory + "/maitre.conf", "daemon maybe;\nevents {}\n")
        let bad = try MaitredBinary.run(["-t", "-c", directory + "/maitre.conf"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains(
            "invalid value \"maybe\" in \"daemon\" directive, it must be \"on\" or \"off\" in \(directory)/maitre.conf:1"),
            bad.stderr)
        let good = try MaitredBinary.run(["-t", "-q", "-c", directory + "/maitre.conf", "-g", "daemon off;"])
        XCTAssertEqual(good.status, 1, "daemon given twice (file and -g) is a duplicate, as in nginx")
        try writeFile(directory + "/maitre.conf", "events {}\n")
        XCTAssertEqual(try MaitredBinary.run(["-t", "-q", "-c", directory + "/maitre.conf", "-g", "daemon off;"]).status, 0)
    }
}
