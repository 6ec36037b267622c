#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig
import MaitreProxy
import NIOCore
import NIOHTTP1
import NIOPosix

/// `maitred --demo`: three backends started in-process on loopback, each answering with its own name, and the
/// balancer in front of them on 127.0.0.1:8080 (or a free port when 8080 is taken), configured by an
/// ordinary nginx-dialect text so what it runs is what a user would write.
enum Demo {
    static func run() -> Int32 {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var backends: [any Channel] = []
        for number in 1...3 {
            do {
                backends.append(try DemoBackend.start(name: "backend-\(number)", group: group))
            } catch {
                Console.error("maitred: [emerg] demo backend \(number) could not start: \(error)")
                return 1
            }
        }
        let ports = backends.compactMap { $0.localAddress?.port }
        let directory = "/tmp/maitred-demo-\(getpid())"
        mkdir(directory, 0o755)
        var lastError = ""
        for listenPort in [8080, 0] {
            let text = configuration(listenPort: listenPort, backendPorts: ports, directory: directory)
            let config: Configuration
            do {
                // Written to disk so that `maitred -s reload -c <that file>` works on the demo too.
                let file = directory + "/maitre.conf"
                if case .failure(let failure) = SmallFile.writeText(text, to: file) {
                    Console.error("maitred: [emerg] \(failure.message)")
                    return 1
                }
                config = try ConfigLoader.load(file: file, prefix: directory + "/")
            } catch {
                Console.error("maitred: [emerg] demo configuration: \(error.description)")
                return 1
            }
            let log = ErrorLog(stderrAt: .notice)
            let runner = Runner(log: log, paths: Paths(prefix: directory + "/", configFile: directory + "/maitre.conf"),
                                options: CommandLineOptions())
            let server = ProxyServer(group: group, log: log)
            do {
                try server.start(try ProxySnapshot(configuration: config))
            } catch {
                lastError = "\(error)"
                continue
            }
            let port = server.boundAddresses.values.first?.port ?? listenPort
            Console.output("""
                maitred demo: balancing http://127.0.0.1:\(port)/ across three backends on ports \
                \(ports.map(String.init).joined(separator: ", ")) (round robin).
                Try:   for i in 1 2 3 4 5 6; do curl -s http://127.0.0.1:\(port)/; done
                Watch: http://127.0.0.1:\(port)/status in a browser (the live status page)
                Drain: curl -X PATCH -d '{"drain":true}' http://127.0.0.1:\(port)/api/9/http/upstreams/demo/servers/0
                The configuration it runs:

                \(text)
                Stop with Ctrl-C.

                """)
            let status = runner.serve(server: server, configuration: config)
            for backend in backends { backend.close(promise: nil) }
            try? group.syncShutdownGracefully()
            return status
        }
        Console.error("maitred: [emerg] demo: \(lastError)")
        return 1
    }

    static func configuration(listenPort: Int, backendPorts: [Int], directory: String) -> String {
        """
        worker_processes 1;
        pid \(directory)/maitred.pid;
        error_log stderr notice;

        http {
            # The article's format, to the terminal: where each request went and how long it took.
            log_format upstreamlog '$remote_addr - $remote_user [$time_local] '
                                   '"$request" $status $body_bytes_sent '
                                   '"$http_referer" "$http_user_agent" '
                                   'upstream: $upstream_addr '
                                   'upstream_response_time: $upstream_response_time '
                                   'request_time: $request_time';
            access_log /dev/stdout upstreamlog;

            upstream demo {
        \(backendPorts.map { "        server 127.0.0.1:\($0);" }.joined(separator: "\n"))
            }
            server {
                listen 127.0.0.1:\(listenPort);
                location / {
                    proxy_pass http://demo;
                    proxy_set_header Host $host;
                    proxy_set_header X-Real-IP $remote_addr;
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                }
                # The live status page, and the runtime API (nginx Plus's paths) for this machine only.
                location /status { status; access_log off; }
                location /api/ { api write=on; allow 127.0.0.1; deny all; access_log off; }
                location = /metrics { metrics; access_log off; }
            }
        }

        """
    }
}

/// A tiny HTTP server answering every request with its name (`backend-2 (127.0.0.1:40001)`).
enum DemoBackend {
    static func start(name: String, group: any EventLoopGroup) throws -> any Channel {
        try ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(name: name))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let name: String
        private var keepAlive = true
        init(name: String) { self.name = name }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch Self.unwrapInboundIn(data) {
            case .head(let head):
                keepAlive = head.isKeepAlive
            case .body:
                break
            case .end:
                let local = context.channel.localAddress?.port.map { "127.0.0.1:\($0)" } ?? ""
                let text = "\(name) (\(local))\n"
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "text/plain")
                headers.add(name: "Content-Length", value: String(text.utf8.count))
                if !keepAlive { headers.add(name: "Connection", value: "close") }
                context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                              promise: nil)
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
                if keepAlive {
                    context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
                } else {
                    let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                    context.writeAndFlush(Self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                        bound.value.close(promise: nil)
                    }
                }
            }
        }
    }
}
