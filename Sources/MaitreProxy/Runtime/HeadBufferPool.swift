import NIOCore

/// Buffers for request and response heads, shared by the connections of one event loop: a head is written into
/// a buffer taken here and the buffer comes back when its request is done, so steady traffic allocates no head
/// memory and an idle connection holds none. A buffer handed back while something still references it (a socket
/// write not yet done) is simply reallocated on its next use (`ByteBuffer.clear` copies nothing then).
final class HeadBufferPool {
    private var free: [ByteBuffer] = []
    /// Bounds what the pool holds: at most this many buffers, none larger than `largest`.
    private let limit: Int
    private static let largest = 16 * 1024
    /// Every channel uses NIO's default allocator; holding one here spares the hot path `channel.allocator`
    /// (about a hundred instructions a call through the channel).
    private let allocator = ByteBufferAllocator()

    init(limit: Int = 256) {
        self.limit = limit
    }

    func take(minimumCapacity: Int) -> ByteBuffer {
        guard var buffer = free.popLast() else { return allocator.buffer(capacity: max(minimumCapacity, 1024)) }
        buffer.clear(minimumCapacity: minimumCapacity)
        return buffer
    }

    func recycle(_ buffer: ByteBuffer) {
        guard free.count < limit, buffer.capacity <= Self.largest else { return }
        free.append(buffer)
    }
}
