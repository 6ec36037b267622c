import XCTest
@testable import MaitreConfig

final class IncludeTests: ConfigTestCase {
    func testIncludesWithGlobsInSortedOrder() throws {
        directory.write("conf.d/b.conf", "upstream b { server 10.0.0.2; }\n")
        directory.write("conf.d/a.conf", "upstream a { server 10.0.0.1; }\n")
        directory.write("conf.d/skip.txt", "garbage\n")
        directory.write("servers/site.conf", "server {\n    listen 8080;\n    include snippets/*.conf;\n}\n")
        directory.write("snippets/proxy.conf", "location / { proxy_pass http://a; }\n")
        let configuration = try XCTUnwrap(load("""
            http {
                include conf.d/*.conf;
                include servers/site.conf;
                include nothing/*.conf;
            }
            """))
        XCTAssertEqual(configuration.http?.upstreams.map(\.name), ["a", "b"])
        XCTAssertEqual(configuration.http?.servers.first?.locations.first?.proxyPass?.upstreamName, "a")
        XCTAssertEqual(configuration.files.map(\.path), [
            mainFile, directory.file("conf.d/a.conf"), directory.file("conf.d/b.conf"), directory.file("servers/site.conf"),
            directory.file("snippets/proxy.conf"),
        ], "includes are relative to the main file's directory, even from an included file")
        XCTAssertEqual(configuration.files[1].contents, "upstream a { server 10.0.0.1; }\n")
        XCTAssertEqual(configuration.http?.servers.first?.locations.first?.source,
                       SourceLocation(file: directory.file("snippets/proxy.conf"), line: 1))
    }

    func testAbsoluteInclude() throws {
        let path = directory.write("elsewhere/main.inc", "worker_processes 7;")
        XCTAssertEqual(load("include \(path);")?.workerProcesses, .count(7))
    }

    func testErrorsNameTheIncludedFile() {
        let included = directory.write("bad.conf", "\n\nproxy_pas x;\n")
        assertHTTPError("include bad.conf;", "unknown directive \"proxy_pas\" in \(included):3")
        directory.write("brace.conf", "}\n")
        assertHTTPError("include brace.conf;", "unexpected \"}\" in \(directory.file("brace.conf")):1")
        directory.write("open.conf", "server {\n")
        assertHTTPError("include open.conf;", "unexpected end of file, expecting \"}\" in \(directory.file("open.conf")):2")
    }

    func testMissingPlainIncludeIsAnError() {
        assertError("\ninclude missing.conf;",
                    "open() \"\(directory.file("missing.conf"))\" failed (2: No such file or directory) in @:2")
        assertError("include a b;", "invalid number of arguments in \"include\" directive in @:1")
        assertError("include x {\n}", "directive \"include\" is not terminated by \";\" in @:1")
    }

    func testSelfIncludeIsStopped() {
        directory.write("loop.conf", "include loop.conf;\n")
        do {
            _ = try ConfigLoader.load(text: "include loop.conf;", file: mainFile, prefix: directory.path, resolver: FakeResolver())
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue(error.message.hasPrefix("include nesting is too deep"), error.message)
        }
    }
}
