import XCTest

@testable import MaitreConfig

/// `zone_sync_redis` and `sticky learn … sync`.
final class ZoneSyncConfigTests: ConfigTestCase {
    private let learn = "sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m"

    func testSettingAndSyncZone() throws {
        let http = try XCTUnwrap(loadHTTP("""
            zone_sync_redis 127.0.0.1:7000 db=2 password=pw prefix=site: connect_timeout=250ms timeout=2s;
            upstream a { server 127.0.0.1:1; \(learn) sync; }
            """))
        let setting = try XCTUnwrap(http.zoneSync)
        XCTAssertEqual(setting.address, .tcp(ResolvedAddress(ip: "127.0.0.1", port: 7000)))
        XCTAssertEqual(setting.database, 2)
        XCTAssertEqual(setting.password, "pw")
        XCTAssertEqual(setting.prefix, "site:")
        XCTAssertEqual(setting.connectTimeout.milliseconds, 250)
        XCTAssertEqual(setting.timeout.milliseconds, 2000)
        guard case .learn(let learnt)? = http.upstreams.first?.sticky else { return XCTFail("learn") }
        XCTAssertTrue(learnt.sync)

        let defaults = try XCTUnwrap(loadHTTP("zone_sync_redis 127.0.0.1;")?.zoneSync)
        XCTAssertEqual(defaults.address, .tcp(ResolvedAddress(ip: "127.0.0.1", port: 6379)))
        XCTAssertEqual(defaults.database, 0)
        XCTAssertNil(defaults.password)
        XCTAssertEqual(defaults.prefix, "maitred:")
        XCTAssertEqual(defaults.connectTimeout.milliseconds, 1000)
        XCTAssertEqual(defaults.timeout.milliseconds, 5000)
        XCTAssertEqual(loadHTTP("zone_sync_redis unix:/run/redis.sock;")?.zoneSync?.address, .unix("/run/redis.sock"))
        guard case .learn(let unsynced)? = loadHTTP("upstream a { server 127.0.0.1:1; \(learn); }")?.upstreams.first?.sticky
        else { return XCTFail("learn") }
        XCTAssertFalse(unsynced.sync)
    }

    func testErrorsNameFileAndLine() {
        assertHTTPError("upstream a { server 127.0.0.1:1; \(learn) sync; }",
                        "\"sticky\" directive \"sync\" parameter requires \"zone_sync_redis\" in the http block in @:2")
        assertHTTPError("zone_sync_redis 127.0.0.1 db=x;", "invalid parameter \"db=x\" in @:2")
        assertHTTPError("zone_sync_redis 127.0.0.1 ttl=1;", "invalid parameter \"ttl=1\" in @:2")
        assertHTTPError("zone_sync_redis 127.0.0.1 connect_timeout=0;", "invalid parameter \"connect_timeout=0\" in @:2")
        assertHTTPError("zone_sync_redis 127.0.0.1;\nzone_sync_redis 127.0.0.1;", "\"zone_sync_redis\" directive is duplicate in @:3")
        assertHTTPError("server { zone_sync_redis 127.0.0.1; }", "\"zone_sync_redis\" directive is not allowed here in @:2")
        assertHTTPError("zone_sync_redis no.such.host.invalid;",
                        "host not found in \"no.such.host.invalid\" of the \"zone_sync_redis\" directive in @:2")
    }
}
