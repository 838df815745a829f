import COpenSSL
import KMS
import NIOCore

/// TLS terminated in a channel: ciphertext in from the peer, plaintext on to the next handler,
/// and back. OpenSSL works on two memory BIOs, never on the socket, so the event loop never
/// blocks in it. Plaintext written before the handshake ends waits for it; a close sends
/// close_notify first.
public final class TLSServerHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Why a connection's TLS ended badly (passed down the pipeline, then the channel closes).
    public struct Failure: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Fired inbound once the handshake is done.
    public struct HandshakeCompleted: Sendable {
        public var protocolVersion: String
        /// The ALPN protocol selected; nil when none was.
        public var applicationProtocol: String?
    }

    private let ssl: OpaquePointer
    private let input: OpaquePointer   // ciphertext from the peer, for OpenSSL to read
    private let output: OpaquePointer  // ciphertext OpenSSL wrote, for the peer
    private var handshakeDone = false
    private var waitingWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var failed = false
    private var closeNotifySent = false

    public init(context: TLSServerContext) throws(Failure) {
        guard let ssl = SSL_new(context.handle), let input = BIO_new(BIO_s_mem()), let output = BIO_new(BIO_s_mem()) else {
            throw Failure(reason: "cannot start TLS for a connection: \(OpenSSL.drainErrors())")
        }
        self.ssl = ssl
        self.input = input
        self.output = output
        SSL_set_bio(ssl, input, output) // the SSL owns both BIOs from here
        SSL_set_accept_state(ssl)
    }

    deinit { SSL_free(ssl) }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard !failed else { return }
        buffer.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = BIO_write(input, bytes.baseAddress! + offset, Int32(bytes.count - offset))
                guard written > 0 else { break }
                offset += Int(written)
            }
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        advance(context: context)
    }

    /// The handshake while it lasts, then every plaintext record OpenSSL can give.
    private func advance(context: ChannelHandlerContext) {
        if !handshakeDone {
            let result = SSL_do_handshake(ssl)
            sendOutput(context: context, promise: nil)
            context.flush()
            guard result == 1 else {
                let error = SSL_get_error(ssl, result)
                if error == SSL_ERROR_WANT_READ { return }
                fail(context: context, "TLS handshake: \(OpenSSL.drainErrors())")
                return
            }
            handshakeDone = true
            context.fireUserInboundEventTriggered(HandshakeCompleted(protocolVersion: String(cString: SSL_get_version(ssl)),
                                                                     applicationProtocol: selectedProtocol()))
            let waiting = waitingWrites
            waitingWrites = []
            for (buffer, promise) in waiting { encrypt(context: context, buffer, promise: promise) }
            if !waiting.isEmpty { context.flush() }
        }
        var plaintext = context.channel.allocator.buffer(capacity: 16384)
        var delivered = false
        while true {
            plaintext.clear()
            let count = plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: 16384) { space in
                Int(max(SSL_read(ssl, space.baseAddress, Int32(space.count)), 0))
            }
            if count > 0 {
                context.fireChannelRead(wrapInboundOut(plaintext))
                delivered = true
                continue
            }
            let error = SSL_get_error(ssl, 0)
            if error == SSL_ERROR_ZERO_RETURN {
                // The peer's close_notify: answer it, then close.
                SSL_shutdown(ssl)
                sendOutput(context: context, promise: nil)
                context.flush()
                context.close(promise: nil)
            } else if error != SSL_ERROR_WANT_READ, error != SSL_ERROR_NONE {
                fail(context: context, "TLS: \(OpenSSL.drainErrors())")
            }
            break
        }
        sendOutput(context: context, promise: nil) // tickets, key updates
        context.flush()
        if delivered { context.fireChannelReadComplete() }
    }

    private func selectedProtocol() -> String? {
        var name: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &name, &length)
        guard let name, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: name, count: Int(length)), as: UTF8.self)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        guard handshakeDone else {
            waitingWrites.append((buffer, promise))
            return
        }
        encrypt(context: context, buffer, promise: promise)
    }

    private func encrypt(context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard !failed else {
            promise?.fail(Failure(reason: "the TLS connection has failed"))
            return
        }
        // A slice at a time, each slice's records sent before the next is encrypted: the output
        // BIO and the buffer it is copied into stay small (64 KiB of plaintext, four records),
        // below malloc's mmap threshold, so a bulk transfer does not map and fault in fresh
        // pages for every write (measured: a 1 MiB slice cost a tenth of the throughput).
        let total = buffer.readableBytes
        var offset = 0
        while offset < total {
            let length = min(total - offset, Self.slice)
            let written = buffer.withUnsafeReadableBytes { bytes in
                SSL_write(ssl, bytes.baseAddress! + offset, Int32(length)) // a memory BIO takes everything; a failure shows below
            }
            guard written > 0 else { break }
            offset += Int(written)
            sendOutput(context: context, promise: offset >= total ? promise : nil)
        }
        if offset < total || total == 0 { sendOutput(context: context, promise: promise) }
    }

    static let slice = 64 * 1024

    /// A close of the whole connection or of its output sends close_notify first: the peer
    /// then knows the data ended here and was not cut off.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if handshakeDone, !failed, mode != .input, !closeNotifySent {
            closeNotifySent = true
            SSL_shutdown(ssl) // close_notify
            sendOutput(context: context, promise: nil)
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }

    /// Everything OpenSSL wrote for the peer, as one write carrying `promise`.
    private func sendOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        let pending = Int(ei_bio_pending(output))
        guard pending > 0 else {
            promise?.succeed(())
            return
        }
        var ciphertext = context.channel.allocator.buffer(capacity: pending)
        ciphertext.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { space in
            Int(max(BIO_read(output, space.baseAddress, Int32(pending)), 0))
        }
        context.write(wrapOutboundOut(ciphertext), promise: promise)
    }

    private func fail(context: ChannelHandlerContext, _ reason: String) {
        guard !failed else { return }
        failed = true
        sendOutput(context: context, promise: nil) // an alert, when OpenSSL wrote one
        context.flush()
        for (_, promise) in waitingWrites { promise?.fail(Failure(reason: reason)) }
        waitingWrites = []
        context.fireErrorCaught(Failure(reason: reason))
        context.close(promise: nil)
    }
}
