import MaitreWire

/// Request headers that describe one connection rather than the message (RFC 9110 §7.6.1): never forwarded.
/// (The response side is ResponseHeadWriter's.) Headers named in the request's Connection fields are also
/// hop-by-hop: see `FieldSyntax.isNamedInConnection`.
enum HopByHop {
    /// Client request headers nginx's proxy module never passes on (its `ngx_http_proxy_headers` list), plus
    /// `Trailer`, compared on the raw bytes.
    static func isRequestHopByHop(_ field: HeaderField, _ raw: UnsafeRawBufferPointer) -> Bool {
        let s = field.nameStart
        let e = field.nameEnd
        switch e - s {
        case 2: return raw.equalsLowercased(s, e, "te")
        case 4: return raw.equalsLowercased(s, e, "host")
        case 6: return raw.equalsLowercased(s, e, "expect")
        case 7: return raw.equalsLowercased(s, e, "upgrade") || raw.equalsLowercased(s, e, "trailer")
        case 10: return raw.equalsLowercased(s, e, "connection") || raw.equalsLowercased(s, e, "keep-alive")
        case 14: return raw.equalsLowercased(s, e, "content-length")
        case 16: return raw.equalsLowercased(s, e, "proxy-connection")
        case 17: return raw.equalsLowercased(s, e, "transfer-encoding")
        default: return false
        }
    }
}
