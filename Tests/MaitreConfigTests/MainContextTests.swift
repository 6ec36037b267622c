import XCTest
@testable import MaitreConfig

final class MainContextTests: ConfigTestCase {
    func testDefaults() throws {
        let configuration = try XCTUnwrap(load(""))
        XCTAssertEqual(configuration.mainFile, mainFile)
        XCTAssertEqual(configuration.workerProcesses, .count(1))
        XCTAssertEqual(configuration.pidFile, directory.path + "/logs/maitred.pid")
        XCTAssertEqual(configuration.errorLog, ErrorLogSetting(path: directory.path + "/logs/error.log", level: .error))
        XCTAssertEqual(configuration.workerConnections, 512)
        XCTAssertNil(configuration.http)
        XCTAssertEqual(configuration.warnings, [])
        XCTAssertEqual(configuration.files, [LoadedFile(path: mainFile, contents: "")])
    }

    func testMainDirectives() throws {
        let configuration = try XCTUnwrap(load("""
            worker_processes 4;
            pid run/maitred.pid;
            error_log logs/main.log warn;
            events { worker_connections 2048; }
            http { }
            """))
        XCTAssertEqual(configuration.workerProcesses, .count(4))
        XCTAssertEqual(configuration.pidFile, directory.path + "/run/maitred.pid")
        XCTAssertEqual(configuration.errorLog, ErrorLogSetting(path: directory.path + "/logs/main.log", level: .warn))
        XCTAssertEqual(configuration.workerConnections, 2048)
        XCTAssertNotNil(configuration.http)
        XCTAssertEqual(configuration.http?.servers.count, 0)
    }

    func testAutoWorkersAbsolutePathsAndStderr() throws {
        let configuration = try XCTUnwrap(load("worker_processes auto; pid /run/m.pid; error_log stderr debug;"))
        XCTAssertEqual(configuration.workerProcesses, .auto)
        XCTAssertEqual(configuration.pidFile, "/run/m.pid")
        XCTAssertEqual(configuration.errorLog, ErrorLogSetting(path: "stderr", level: .debug))
    }

    func testFirstErrorLogIsKept() throws {
        let configuration = try XCTUnwrap(load("error_log /a.log info;\nerror_log /b.log;"))
        XCTAssertEqual(configuration.errorLog, ErrorLogSetting(path: "/a.log", level: .info))
    }

    func testMainErrors() {
        assertError("worker_processes 2;\nworker_processes 3;", "\"worker_processes\" directive is duplicate in @:2")
        assertError("worker_processes lots;", "\"worker_processes\" directive invalid value in @:1")
        assertError("worker_processes;", "invalid number of arguments in \"worker_processes\" directive in @:1")
        assertError("pid a;\npid b;", "\"pid\" directive is duplicate in @:2")
        assertError("error_log x.log loud;", "invalid log level \"loud\" in @:1")
        assertError("error_log x.log warn info;", "duplicate log level \"info\" in @:1")
        assertError("events {\nworker_connections many;\n}", "invalid number \"many\" in @:2")
        assertError("events {\nworker_connections 1;\nworker_connections 2;\n}", "\"worker_connections\" directive is duplicate in @:3")
        assertError("events {\nuse epoll;\n}", "unknown directive \"use\" in @:2")
        assertError("events {}\nevents {}", "\"events\" directive is duplicate in @:2")
        assertError("http {}\nhttp {}", "\"http\" directive is duplicate in @:2")
        assertError("http;", "directive \"http\" has no opening \"{\" in @:1")
        assertError("http x {}", "invalid number of arguments in \"http\" directive in @:1")
        assertError("pid x {\n}", "directive \"pid\" is not terminated by \";\" in @:1")
        assertError("user nobody;", "unknown directive \"user\" in @:1")
        assertError("listen 80;", "\"listen\" directive is not allowed here in @:1")
        assertError("proxy_pass http://x;", "\"proxy_pass\" directive is not allowed here in @:1")
    }

    func testEarlierSemanticErrorWinsOverLaterSyntaxError() {
        // nginx applies directives as it reads them, so the unknown directive is reported, not the missing brace.
        assertError("http {\nproxy_pas x;\nserver {\n", "unknown directive \"proxy_pas\" in @:2")
        assertError("http {\nserver {\n", "unexpected end of file, expecting \"}\" in @:3")
    }

    func testGlobalDirectives() throws {
        let configuration = try XCTUnwrap(load("", globalDirectives: "worker_processes 3; pid /tmp/x.pid;"))
        XCTAssertEqual(configuration.workerProcesses, .count(3))
        XCTAssertEqual(configuration.pidFile, "/tmp/x.pid")
    }

    func testGlobalDirectiveErrors() {
        assertError("", "unknown directive \"bogus\" in command line", globalDirectives: "bogus 1;")
        assertError("", "\"worker_processes\" directive invalid value in command line", globalDirectives: "worker_processes x;")
        assertError("", "unexpected end of parameter, expecting \";\" in command line", globalDirectives: "pid /x")
        assertError("", "block directives are not supported in -g option in command line", globalDirectives: "events { }")
        assertError("", "unexpected \"}\" in command line", globalDirectives: "}")
        // -g is read first, so the file's copy is the duplicate.
        assertError("\nworker_processes 2;", "\"worker_processes\" directive is duplicate in @:2", globalDirectives: "worker_processes 1;")
    }

    func testMainFileErrorsHaveNoPlace() {
        do {
            _ = try ConfigLoader.load(file: "missing.conf", prefix: directory.path, resolver: FakeResolver())
            XCTFail("expected an error")
        } catch {
            XCTAssertNil(error.location)
            XCTAssertEqual(error.description, "open() \"\(directory.path)/missing.conf\" failed (2: No such file or directory)")
        }
    }

    func testLoadFromFileResolvesAgainstPrefix() throws {
        directory.write("conf/maitre.conf", "worker_processes 2;\ninclude extra.conf;\n")
        directory.write("conf/extra.conf", "pid x.pid;\n")
        let configuration = try ConfigLoader.load(file: "conf/maitre.conf", prefix: directory.path, resolver: FakeResolver())
        XCTAssertEqual(configuration.mainFile, directory.path + "/conf/maitre.conf")
        XCTAssertEqual(configuration.workerProcesses, .count(2))
        XCTAssertEqual(configuration.pidFile, directory.path + "/x.pid", "pid is relative to the prefix, not the conf dir")
        XCTAssertEqual(configuration.files.map(\.path), [directory.path + "/conf/maitre.conf", directory.path + "/conf/extra.conf"])
        XCTAssertEqual(configuration.files[1].contents, "pid x.pid;\n")
    }

    func testConfigErrorDescription() {
        XCTAssertEqual(ConfigError("boom", at: nil).description, "boom")
        XCTAssertEqual(ConfigError("boom", at: SourceLocation(file: "/a.conf", line: 3)).description, "boom in /a.conf:3")
        XCTAssertEqual(ConfigError("boom", at: .commandLine).description, "boom in command line")
    }
}
