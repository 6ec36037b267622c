import MaitreBalancing
import MaitreWire

/// The runtime API's paths and their decisions, in nginx Plus's API shapes (`/api/9/http/upstreams/NAME/servers/ID`):
/// which document a GET reads, what a PATCH changes, and the errors nginx Plus answers (status, text, code).
/// Pure: the handler resolves names and ids against the registry and runs the change.
enum APIRoute: Equatable {
    /// `/` (under the location): the API versions.
    case versions
    /// `/9/`: the endpoints of a version.
    case root
    case nginx
    case connections
    case http
    case httpRequests
    case serverZones
    /// `/stream`: nginx Plus's stream endpoints (maitred answers its upstreams).
    case stream
    /// The upstream paths exist under `/http` and `/stream` (`inStream`), each context with its own names.
    case upstreams(inStream: Bool)
    case upstream(String, inStream: Bool)
    case servers(String, inStream: Bool)
    case server(String, Int, inStream: Bool)

    /// The same route under `/http` (a stream route is answered from the stream view of the document).
    var inHTTP: APIRoute {
        switch self {
        case .upstreams: .upstreams(inStream: false)
        case .upstream(let name, _): .upstream(name, inStream: false)
        case .servers(let name, _): .servers(name, inStream: false)
        case .server(let name, let id, _): .server(name, id, inStream: false)
        default: self
        }
    }

    /// The API versions answered (nginx Plus's numbering; every version gets the same documents).
    static let versionNumbers = Array(1...9)

    /// `components`: the path after the location's prefix, split at `/`, empty ones dropped.
    static func route(_ components: [String]) -> Result<APIRoute, APIError> {
        guard let first = components.first else { return .success(.versions) }
        guard let version = Int(first), versionNumbers.contains(version) else {
            return .failure(APIError(status: 404, text: "unknown version", code: "UnknownVersion"))
        }
        let rest = Array(components.dropFirst())
        switch rest.count {
        case 0: return .success(.root)
        case 1:
            switch rest[0] {
            case "nginx": return .success(.nginx)
            case "connections": return .success(.connections)
            case "http": return .success(.http)
            case "stream": return .success(.stream)
            default: return .failure(.pathNotFound)
            }
        default:
            guard rest[0] == "http" || rest[0] == "stream" else { return .failure(.pathNotFound) }
            let inStream = rest[0] == "stream"
            switch (rest[1], rest.count) {
            case ("requests", 2) where !inStream: return .success(.httpRequests)
            case ("server_zones", 2) where !inStream: return .success(.serverZones)
            case ("upstreams", 2): return .success(.upstreams(inStream: inStream))
            case ("upstreams", 3): return .success(.upstream(rest[2], inStream: inStream))
            case ("upstreams", 4) where rest[3] == "servers": return .success(.servers(rest[2], inStream: inStream))
            case ("upstreams", 5) where rest[3] == "servers":
                guard let id = Int(rest[4]), id >= 0 else {
                    return .failure(APIError(status: 400, text: "invalid server id", code: "UpstreamBadServerId"))
                }
                return .success(.server(rest[2], id, inStream: inStream))
            default: return .failure(.pathNotFound)
            }
        }
    }

    /// A PATCH body for one server: `{"weight": N}`, `{"down": true|false}`, `{"drain": true}`, or several of them.
    struct ServerChange: Equatable {
        var weight: Int?
        var adminState: PeerAdminState?
    }

    /// Reads a PATCH body. Parameters nginx Plus takes but maitred cannot change at run time (max_conns,
    /// max_fails, fail_timeout, slow_start, route, backup, service, server) are refused by name.
    static func serverChange(_ body: [UInt8]) -> Result<ServerChange, APIError> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            return .failure(APIError(status: 400, text: "invalid JSON: \(error.description)", code: "JsonError"))
        }
        guard case .object(let members) = value else {
            return .failure(APIError(status: 400, text: "expected a JSON object", code: "UpstreamConfFormatError"))
        }
        var change = ServerChange()
        for (name, member) in members {
            switch (name, member) {
            case ("weight", .number(let number)):
                guard number == number.rounded(), number >= 1, number <= Double(UpstreamBalancer.maximumWeight) else {
                    return .failure(APIError(status: 400, text: "invalid \"weight\"", code: "UpstreamBadWeight"))
                }
                change.weight = Int(number)
            case ("down", .bool(let down)):
                if down {
                    change.adminState = .down
                } else if change.adminState != .drain {
                    change.adminState = .up
                }
            case ("drain", .bool(let drain)):
                if drain {
                    change.adminState = .drain
                } else if change.adminState == nil {
                    change.adminState = .up
                }
            case ("id", _):
                continue  // nginx Plus lets a client send back the object it read; the id cannot change
            case ("weight", _), ("down", _), ("drain", _):
                return .failure(APIError(
                    status: 400, text: "invalid \"\(name)\" value", code: "UpstreamConfFormatError"))
            case ("max_conns", _), ("max_fails", _), ("fail_timeout", _), ("slow_start", _), ("route", _),
                ("backup", _), ("service", _), ("server", _):
                return .failure(APIError(
                    status: 400, text: "\"\(name)\" cannot be changed at run time by maitred",
                    code: "UpstreamConfFormatError"))
            default:
                return .failure(APIError(
                    status: 400, text: "unknown parameter \"\(name)\"", code: "UpstreamConfFormatError"))
            }
        }
        return .success(change)
    }
}

/// An API error as nginx Plus writes it: `{"error":{"status":404,"text":"…","code":"…"},"request_id":"…","href":"…"}`.
struct APIError: Error, Equatable {
    let status: Int
    let text: String
    let code: String

    static let pathNotFound = APIError(status: 404, text: "path not found", code: "PathNotFound")
    static let upstreamNotFound = APIError(status: 404, text: "upstream not found", code: "UpstreamNotFound")
    static let serverNotFound = APIError(status: 404, text: "server not found", code: "UpstreamServerNotFound")
    static let methodNotSupported = APIError(status: 405, text: "method not supported", code: "MethodNotSupported")
    static let methodDisabled = APIError(status: 405, text: "method disabled", code: "MethodDisabled")
    static let bodyTooLarge = APIError(status: 413, text: "request body too large", code: "BodyTooLarge")

    func json(requestID: String) -> String {
        "{\"error\":{\"status\":\(status),\"text\":\(JSONText.quoted(text)),\"code\":\(JSONText.quoted(code))}"
            + ",\"request_id\":\(JSONText.quoted(requestID))"
            + ",\"href\":\"https://nginx.org/en/docs/http/ngx_http_api_module.html\"}"
    }
}
