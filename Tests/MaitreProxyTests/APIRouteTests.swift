import MaitreBalancing
import XCTest

@testable import MaitreProxy

/// The API's paths and PATCH bodies, decided without sockets.
final class APIRouteTests: XCTestCase {
    private func failureCode<T>(_ result: Result<T, APIError>) -> String? {
        if case .failure(let error) = result { return error.code }
        return nil
    }

    private func failureStatus<T>(_ result: Result<T, APIError>) -> Int? {
        if case .failure(let error) = result { return error.status }
        return nil
    }

    private func route(_ path: String) -> Result<APIRoute, APIError> {
        APIRoute.route(path.split(separator: "/").map(String.init))
    }

    func testPaths() {
        XCTAssertEqual(route(""), .success(.versions))
        XCTAssertEqual(route("9"), .success(.root))
        XCTAssertEqual(route("8/nginx"), .success(.nginx))
        XCTAssertEqual(route("9/connections"), .success(.connections))
        XCTAssertEqual(route("9/http"), .success(.http))
        XCTAssertEqual(route("9/http/requests"), .success(.httpRequests))
        XCTAssertEqual(route("9/http/server_zones"), .success(.serverZones))
        XCTAssertEqual(route("9/http/upstreams"), .success(.upstreams(inStream: false)))
        XCTAssertEqual(route("9/http/upstreams/app"), .success(.upstream("app", inStream: false)))
        XCTAssertEqual(route("9/http/upstreams/app/servers"), .success(.servers("app", inStream: false)))
        XCTAssertEqual(route("9/http/upstreams/app/servers/2"), .success(.server("app", 2, inStream: false)))
        XCTAssertEqual(route("9/stream"), .success(.stream))
        XCTAssertEqual(route("9/stream/upstreams"), .success(.upstreams(inStream: true)))
        XCTAssertEqual(route("9/stream/upstreams/db/servers/0"), .success(.server("db", 0, inStream: true)))
        XCTAssertEqual(route("9/stream/server_zones"), .failure(.pathNotFound))
        XCTAssertEqual(route("10/nginx"), .failure(APIError(status: 404, text: "unknown version", code: "UnknownVersion")))
        XCTAssertEqual(route("9/http/upstreams/app/peers"), .failure(.pathNotFound))
        XCTAssertEqual(failureCode(route("9/http/upstreams/app/servers/-1")),
                       "UpstreamBadServerId")
        XCTAssertEqual(failureCode(route("9/http/upstreams/app/servers/99999999999999999999999")),
                       "UpstreamBadServerId")
    }

    func testPatchBodies() {
        func change(_ text: String) -> Result<APIRoute.ServerChange, APIError> {
            APIRoute.serverChange(Array(text.utf8))
        }
        XCTAssertEqual(change(#"{"weight":3}"#), .success(.init(weight: 3)))
        XCTAssertEqual(change(#"{"drain":true}"#), .success(.init(adminState: .drain)))
        XCTAssertEqual(change(#"{"down":true}"#), .success(.init(adminState: .down)))
        XCTAssertEqual(change(#"{"down":false}"#), .success(.init(adminState: .up)))
        XCTAssertEqual(change(#"{"drain":true,"down":false}"#), .success(.init(adminState: .drain)),
                       "nginx Plus: down=false does not undo a drain in the same body")
        XCTAssertEqual(change(#"{"id":1,"weight":2,"down":true}"#), .success(.init(weight: 2, adminState: .down)))
        XCTAssertEqual(failureCode(change(#"{"weight":0}"#)), "UpstreamBadWeight")
        XCTAssertEqual(failureCode(change(#"{"weight":1.5}"#)), "UpstreamBadWeight")
        XCTAssertEqual(failureCode(change(#"{"weight":"3"}"#)), "UpstreamConfFormatError")
        XCTAssertEqual(failureCode(change(#"{"max_fails":3}"#)), "UpstreamConfFormatError")
        XCTAssertEqual(failureCode(change(#"{"colour":"red"}"#)), "UpstreamConfFormatError")
        XCTAssertEqual(failureCode(change(#"[1]"#)), "UpstreamConfFormatError")
        XCTAssertEqual(failureCode(change("")), "JsonError")
        XCTAssertEqual(failureStatus(change("{\"drain\":tru")), 400)
    }

    func testErrorJSONIsNginxPlusShaped() {
        XCTAssertEqual(APIError.serverNotFound.json(requestID: "abc"),
                       #"{"error":{"status":404,"text":"server not found","code":"UpstreamServerNotFound"},"#
                       + #""request_id":"abc","href":"https://nginx.org/en/docs/http/ngx_http_api_module.html"}"#)
    }

    func testPeerStates() {
        func peer(_ admin: PeerAdminState, health: HealthCheckState? = nil, passed: Bool? = nil,
                  unavailable: Bool = false) -> PeerStatus {
            var history = PeerHistory()
            if let passed { history.recordProbe(passed: passed, reason: nil, transition: nil, at: 0) }
            return PeerStatus(
                identity: PeerIdentity(upstream: "u", server: "s", address: "a"), adminState: admin, weight: 1,
                configured: PeerDescriptor(name: "s", address: "a"), counters: PeerCounterValues(), countersByLoop: [],
                health: health, history: history, unavailable: unavailable)
        }
        let down = HealthCheckState(rise: 1, fall: 1, defaultDown: true)
        XCTAssertEqual(StatusDocument.state(of: peer(.up)), "up")
        XCTAssertEqual(StatusDocument.state(of: peer(.drain)), "draining")
        XCTAssertEqual(StatusDocument.state(of: peer(.down)), "down")
        XCTAssertEqual(StatusDocument.state(of: peer(.up, health: down)), "checking")
        XCTAssertEqual(StatusDocument.state(of: peer(.up, health: down, passed: false)), "unhealthy")
        XCTAssertEqual(StatusDocument.state(of: peer(.up, unavailable: true)), "unavail")
        XCTAssertEqual(StatusDocument.state(of: peer(.drain, health: down, passed: false)), "draining")
    }
}
