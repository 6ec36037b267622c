import NIOCore

/// A connection's scratch buffer for one kind of head, reused request after request: `ByteBuffer.clear` keeps the
/// memory when nothing else (an exchange, a pending socket write) still holds the previous contents, so a busy
/// keep-alive connection allocates nothing for it. Buffers grown past `keepLimit` are not kept.
struct ReusableBuffer {
    private var kept: ByteBuffer?
    private let keepLimit: Int

    init(keepLimit: Int = 4096) {
        self.keepLimit = keepLimit
    }

    /// An empty buffer with at least `minimumCapacity` bytes; give it back with `keep` once it is handed out.
    mutating func take(minimumCapacity: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard var buffer = kept else { return allocator.buffer(capacity: max(minimumCapacity, 512)) }
        kept = nil
        buffer.clear(minimumCapacity: minimumCapacity)
        return buffer
    }

    mutating func keep(_ buffer: ByteBuffer) {
        kept = buffer.capacity <= keepLimit ? buffer : nil
    }

    /// Lets the memory go (an idle connection keeps none).
    mutating func release() {
        kept = nil
    }
}
