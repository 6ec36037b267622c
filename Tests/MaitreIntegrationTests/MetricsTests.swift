import Foundation
import XCTest

/// The `metrics` page scraped over HTTP and read by a strict parser of Prometheus's text format: every sample
/// belongs to a family declared with HELP and TYPE before it, names and labels are well formed, values are numbers,
/// and the values match the traffic the test sent.
final class MetricsTests: ProxyTestCase {
    private struct Sample: Hashable {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    /// Fails the test (and returns nil) on anything the text format does not allow.
    private func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [Sample]? {
        let sampleLine = try! NSRegularExpression(
            pattern: #"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|\+Inf|-Inf)$"#)
        let labelPair = try! NSRegularExpression(pattern: #"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#)
        var declared: [String: String] = [:]
        var helped: Set<String> = []
        var samples: [Sample] = []
        guard text.hasSuffix("\n") else { XCTFail("no final line feed", file: file, line: line); return nil }
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let entry = String(raw)
            if entry.hasPrefix("# HELP ") {
                helped.insert(String(entry.dropFirst(7).split(separator: " ").first ?? ""))
                continue
            }
            if entry.hasPrefix("# TYPE ") {
                let parts = entry.dropFirst(7).split(separator: " ")
                guard parts.count == 2, ["counter", "gauge", "histogram", "summary", "untyped"].contains(String(parts[1]))
                else { XCTFail("bad TYPE line: \(entry)", file: file, line: line); return nil }
                declared[String(parts[0])] = String(parts[1])
                continue
            }
            let range = NSRange(entry.startIndex..., in: entry)
            guard let match = sampleLine.firstMatch(in: entry, range: range),
                let nameRange = Range(match.range(at: 1), in: entry),
                let valueRange = Range(match.range(at: 4), in: entry)
            else { XCTFail("not a sample line: \(entry)", file: file, line: line); return nil }
            let name = String(entry[nameRange])
            // A histogram's samples are its name with _bucket, _sum and _count.
            let family = ["_bucket", "_sum", "_count"].compactMap { suffix -> String? in
                guard name.hasSuffix(suffix) else { return nil }
                let base = String(name.dropLast(suffix.count))
                return declared[base] == "histogram" ? base : nil
            }.first ?? name
            guard let type = declared[family], helped.contains(family) else {
                XCTFail("\(name) sampled before its HELP and TYPE", file: file, line: line); return nil
            }
            if type == "counter" { XCTAssertTrue(name.hasSuffix("_total"), name, file: file, line: line) }
            if type == "histogram", name.hasSuffix("_bucket") {
                XCTAssertTrue(entry.contains("le=\""), "a bucket without le: \(entry)", file: file, line: line)
            }
            var labels: [String: String] = [:]
            if let labelRange = Range(match.range(at: 3), in: entry) {
                let text = String(entry[labelRange])
                let pairs = labelPair.matches(in: text, range: NSRange(text.startIndex..., in: text))
                let rebuilt = pairs.compactMap { Range($0.range, in: text).map { String(text[$0]) } }.joined(separator: ",")
                guard rebuilt == text else { XCTFail("bad labels: \(text)", file: file, line: line); return nil }
                for pair in pairs {
                    labels[String(text[Range(pair.range(at: 1), in: text)!])] = String(text[Range(pair.range(at: 2), in: text)!])
                }
            }
            guard let value = Double(String(entry[valueRange])) else { return nil }
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        return samples
    }

    func testScrapedMetricsMatchTheTraffic() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        backends = [a, b]
        harness = try ProxyHarness("""
            http {
                upstream app {
                    server \(a.address) weight=3;
                    server \(b.address);
                    check interval=200 rise=1 fall=1 timeout=500 type=tcp default_down=false;
                }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://app; }
                    location = /metrics { metrics; }
                }
            }
            """, workers: 2)
        for _ in 0..<20 { XCTAssertEqual(try harness!.get("/", headers: [("Connection", "close")]).status, 200) }
        let response = try harness!.get("/metrics")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        let samples = try XCTUnwrap(parse(response.text), response.text)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
        }
        XCTAssertEqual(value("maitred_upstream_peer_requests_total", ["peer": a.address]), Double(a.requests))
        XCTAssertEqual(value("maitred_upstream_peer_requests_total", ["peer": b.address]), Double(b.requests))
        XCTAssertEqual(Double(a.requests + b.requests), 20)
        XCTAssertEqual(value("maitred_upstream_peer_weight", ["peer": a.address]), 3)
        XCTAssertEqual(value("maitred_upstream_peer_admin_state", ["peer": b.address, "state": "up"]), 1)
        XCTAssertEqual(value("maitred_upstream_peer_admin_state", ["peer": b.address, "state": "drain"]), 0)
        XCTAssertEqual(value("maitred_upstream_peer_health_check_up", ["peer": a.address]), 1)
        // The check's figures, once a probe has run (every 200 ms; the page is scraped again until then).
        var probed: [Sample] = []
        XCTAssertTrue(pollUntil(timeout: 5) {
            probed = (try? self.harness!.get("/metrics")).flatMap { self.parse($0.text) } ?? []
            return probed.contains { $0.name == "maitred_upstream_peer_health_checks_total" && $0.labels["peer"] == a.address && $0.value >= 1 }
        })
        func probe(_ name: String) -> Double? {
            probed.first { $0.name == name && $0.labels["peer"] == a.address }?.value
        }
        XCTAssertEqual(probe("maitred_upstream_peer_health_check_failures_total"), 0)
        let probeSeconds = try XCTUnwrap(probe("maitred_upstream_peer_health_check_duration_seconds"))
        XCTAssertTrue(probeSeconds >= 0 && probeSeconds < 0.5, "a loopback probe within its timeout: \(probeSeconds)")
        XCTAssertEqual(value("maitred_upstream_peer_failures_total", ["peer": a.address]), 0)
        XCTAssertGreaterThanOrEqual(value("maitred_http_requests_total") ?? 0, 21, "the 20 and the scrape itself")
        XCTAssertGreaterThanOrEqual(value("maitred_connections_accepted_total") ?? 0, 21)
        XCTAssertEqual(value("maitred_connections", ["state": "writing"]), 1, "the scrape itself")
        XCTAssertEqual(value("maitred_http_server_requests_total", ["server": "", "code": "2xx"]), 20)
        XCTAssertEqual(value("maitred_http_request_duration_seconds_count", ["server": ""]), 20)
        XCTAssertEqual(value("maitred_upstream_response_duration_seconds_count", ["upstream": "app"]), 20)
        let buckets = samples.filter { $0.name == "maitred_upstream_response_duration_seconds_bucket" }.map(\.value)
        XCTAssertEqual(buckets.count, 12)
        XCTAssertEqual(buckets, buckets.sorted(), "cumulative buckets never decrease")
        XCTAssertEqual(buckets.last, 20, "+Inf holds every observation")
        XCTAssertEqual(try harness!.client().request("POST", "/metrics", body: "x").status, 405)
        XCTAssertEqual(value("maitred_upstream_peer_active", ["peer": a.address]), 0)
        XCTAssertEqual(value("maitred_upstream_retries_total", ["upstream": "app"]), 0)
        XCTAssertEqual(value("maitred_config_generation"), 1)
        XCTAssertEqual(value("maitred_config_reloads_total", ["result": "ok"]), 0)
        XCTAssertEqual(value("maitred_config_last_reload_successful"), 1)
        XCTAssertEqual(value("maitred_http_sent_body_bytes_total", ["server": ""]), 40, "20 answers of \"a\\n\" or \"b\\n\"")
        XCTAssertGreaterThan(value("maitred_http_received_bytes_total", ["server": ""]) ?? 0, 20 * 16)
        let created = try XCTUnwrap(value("maitred_upstream_connections_created_total"))
        let reused = try XCTUnwrap(value("maitred_upstream_connections_reused_total"))
        XCTAssertEqual(created + reused, 20, "every attempt opened a connection or reused one")
        XCTAssertGreaterThan(reused, 0, "keep-alive to the upstream reuses connections")
        XCTAssertEqual(value("maitred_upstream_connections", ["state": "open"]), created, "none closed yet")
        XCTAssertLessThanOrEqual(value("maitred_upstream_connections", ["state": "idle"]) ?? -1, created)
    }

    /// A retry and its reason: the first peer refuses connections, so every request's first attempt fails with
    /// `error` and the second succeeds; OpenMetrics is served to a scraper that asks for it.
    func testRetriesByReasonAndOpenMetrics() throws {
        let live = try TestBackend(name: "live", group: group)
        backends = [live]
        let dead = try freeLoopbackPort()
        harness = try ProxyHarness("""
            http {
                upstream app { server 127.0.0.1:\(dead) max_fails=0; server \(live.address) max_fails=0; }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://app; }
                    location = /metrics { metrics; }
                }
            }
            """, workers: 1)
        for _ in 0..<6 { XCTAssertEqual(try harness!.get("/").status, 200) }
        let samples = try XCTUnwrap(parse(try harness!.get("/metrics").text))
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
        }
        XCTAssertEqual(value("maitred_upstream_retries_total", ["upstream": "app"]), 3, "round robin: every other request starts on the dead peer")
        XCTAssertEqual(value("maitred_upstream_attempt_failures_total", ["upstream": "app", "reason": "error"]), 3)

        let open = try harness!.get("/metrics", headers: [("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")])
        XCTAssertEqual(open.header("Content-Type"), "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertTrue(open.text.hasSuffix("\n# EOF\n"))
        XCTAssertTrue(open.text.contains("# TYPE maitred_upstream_retries counter\n"), "a counter family is named without _total")
        XCTAssertTrue(open.text.contains("\nmaitred_upstream_retries_total{upstream=\"app\"} 3\n"), "its samples keep it")
        XCTAssertFalse(open.text.contains("# TYPE maitred_upstream_retries_total"))
        XCTAssertTrue(open.text.contains("# TYPE maitred_connections_active gauge\n"))
        XCTAssertEqual(open.text.components(separatedBy: "# EOF").count, 2, "one EOF, at the end")
    }
}
