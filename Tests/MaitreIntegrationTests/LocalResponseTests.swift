import Foundation
import XCTest

/// Responses maitred writes itself, as nginx writes them (nginx 1.22.1 answered the same requests so): its
/// status-line phrases, its page titles, no Content-Type or Content-Length on a 204, `return 444` closing the
/// connection without a response, absolute redirects, and a head too large answered 400 with nginx's page for it.
final class LocalResponseTests: ProxyTestCase {
    private func start() throws {
        harness = try ProxyHarness("""
            http {
                log_format s '$status $body_bytes_sent';
                access_log TMP/access.log s;
                large_client_header_buffers 2 1k;
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location = /found { return 302 http://x.test/; }
                    location = /auth { return 401; }
                    location = /method { return 405; }
                    location = /busy { return 503; }
                    location = /slow { return 504; }
                    location = /range { return 416; }
                    location = /teapot { return 418; }
                    location = /empty { return 204; }
                    location = /drop { return 444; }
                    location = /timeout { return 408; }
                }
            }
            """)
    }

    /// The raw response to one request on a new connection (read until the server closes or 2 s pass).
    private func raw(_ path: String, extra: String = "") throws -> String {
        let client = try harness!.client(timeoutSeconds: 2)
        try client.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\(extra)Connection: close\r\n\r\n")
        let (bytes, _) = client.readUntilClose()
        return String(decoding: bytes, as: UTF8.self)
    }

    func testStatusLinesAndPagesAreNginxs() throws {
        try start()
        let expected: [(String, String, String)] = [
            ("/found", "302 Moved Temporarily", "302 Found"),
            ("/auth", "401 Unauthorized", "401 Authorization Required"),
            ("/method", "405 Not Allowed", "405 Not Allowed"),
            ("/busy", "503 Service Temporarily Unavailable", "503 Service Temporarily Unavailable"),
            ("/slow", "504 Gateway Time-out", "504 Gateway Time-out"),
            ("/range", "416 Requested Range Not Satisfiable", "416 Requested Range Not Satisfiable"),
        ]
        for (path, statusLine, title) in expected {
            let answer = try raw(path)
            XCTAssertTrue(answer.hasPrefix("HTTP/1.1 \(statusLine)\r\n"), answer)
            XCTAssertTrue(answer.contains("<head><title>\(title)</title></head>"), answer)
            XCTAssertTrue(answer.contains("<center><h1>\(title)</h1></center>"), answer)
        }
        // A code nginx has no phrase for gets none.
        XCTAssertTrue(try raw("/teapot").hasPrefix("HTTP/1.1 418 \r\n"))
    }

    func testA204HasNoContentHeaders() throws {
        try start()
        let answer = try raw("/empty")
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 204 No Content\r\n"), answer)
        XCTAssertFalse(answer.lowercased().contains("content-length"), answer)
        XCTAssertFalse(answer.lowercased().contains("content-type"), answer)
        XCTAssertTrue(answer.hasSuffix("\r\n\r\n"), "no body: \(answer.debugDescription)")
    }

    func testReturn444And408CloseWithoutAResponseAndAreLogged() throws {
        try start()
        XCTAssertEqual(try raw("/drop"), "", "nothing is written")
        XCTAssertEqual(try raw("/timeout"), "", "nginx's return 408 writes nothing either")
        _ = eventually(5) { (readFile(self.harness!.directory + "/access.log") ?? "").contains("408") }
        XCTAssertEqual(readFile(harness!.directory + "/access.log"), "444 0\n408 0\n")
        XCTAssertTrue(try raw("/empty").hasPrefix("HTTP/1.1 204 "), "the server goes on")
    }

    /// nginx's `absolute_redirect on` (its default), `port_in_redirect` and `server_name_in_redirect`, for
    /// `return` and for the slash-adding redirect of a proxied prefix (nginx 1.22.1 sent these Locations).
    func testRedirectsOfItsOwnBecomeAbsoluteAsNginxs() throws {
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    server_name ex.test other.test;
                    location = /rel { return 301 /elsewhere?x=1; }
                    location = /off { absolute_redirect off; return 302 /elsewhere; }
                    location = /noport { port_in_redirect off; return 307 /elsewhere; }
                    location = /name { server_name_in_redirect on; return 308 /elsewhere; }
                    location = /abs { return 301 http://x.test/y; }
                    location /app/ { proxy_pass http://127.0.0.1:1; }
                }
            }
            """)
        let port = harness!.port
        func location(_ path: String, host: String? = "A.test:\(port)") throws -> String? {
            let client = try harness!.client()
            let head = host.map { "GET \(path) HTTP/1.1\r\nHost: \($0)\r\n" } ?? "GET \(path) HTTP/1.0\r\n"
            try client.send(head + "Connection: close\r\n\r\n")
            return try client.readResponse().header("location")
        }
        XCTAssertEqual(try location("/rel"), "http://a.test:\(port)/elsewhere?x=1")
        XCTAssertEqual(try location("/off"), "/elsewhere")
        XCTAssertEqual(try location("/noport"), "http://a.test/elsewhere")
        XCTAssertEqual(try location("/name"), "http://ex.test:\(port)/elsewhere")
        XCTAssertEqual(try location("/abs"), "http://x.test/y")
        XCTAssertEqual(try location("/app?q=1"), "http://a.test:\(port)/app/?q=1")
        XCTAssertEqual(try location("/rel", host: nil), "http://127.0.0.1:\(port)/elsewhere?x=1", "no Host: the local address")
    }

    /// An absolute-form target's host takes the Host header's place for server selection and `$host`, as in
    /// nginx (RFC 9112 §3.2.2); an invalid one is 400, and HTTP/1.1 still needs a Host header.
    func testTheRequestLinesHostWinsOverTheHostHeader() throws {
        harness = try ProxyHarness("""
            http {
                server { listen 127.0.0.1:PROXY_PORT; server_name a.test; location / { return 200 "a $host $request_uri"; } }
                server { listen 127.0.0.1:PROXY_PORT; server_name other.test; location / { return 200 "other $host $request_uri"; } }
            }
            """)
        func send(_ line: String, host: String = "Host: a.test\r\n") throws -> TestHTTPClient.Response {
            let client = try harness!.client()
            try client.send("\(line)\r\n\(host)Connection: close\r\n\r\n")
            return try client.readResponse()
        }
        XCTAssertEqual(try send("GET http://Other.Test:8080/x?y=1 HTTP/1.1").text, "other other.test /x?y=1")
        XCTAssertEqual(try send("GET HTTP://other.test HTTP/1.1").text, "other other.test /")
        XCTAssertEqual(try send("GET /x HTTP/1.1").text, "a a.test /x")
        XCTAssertEqual(try send("GET http://bad..host/x HTTP/1.1").status, 400)
        XCTAssertEqual(try send("GET http://other.test/x HTTP/1.1", host: "").status, 400)
    }

    func testAHeadTooLargeGetsNginxsPageFor494() throws {
        try start()
        let answer = try raw("/", extra: "X-Big: \(String(repeating: "b", count: 1500))\r\n")
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), answer)
        XCTAssertTrue(answer.contains("<head><title>400 Request Header Or Cookie Too Large</title></head>"), answer)
        XCTAssertTrue(answer.contains("<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>"), answer)
    }
}
