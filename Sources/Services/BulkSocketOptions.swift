import NIOCore

/// Socket settings for connections that carry bulk data through user space: the relay's
/// connections before their hand-over to the splice engine, and both sides of an attested
/// ingress's connections.
public enum BulkSocketOptions {
    /// Big reads when the data flows (up to 256 KiB), small ones for idle or chatty connections
    /// (from 16 KiB): memory per open connection stays small.
    public static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 16384, maximum: 262_144)
    /// A side stops being read once its partner has this much unwritten: the per-connection
    /// memory bound of each direction (plus one read buffer).
    public static let writeWatermark = ChannelOptions.Types.WriteBufferWaterMark(low: 128 * 1024, high: 256 * 1024)
    /// Unix sockets (the vsock emulation) get 1 MiB socket buffers: the kernel's default
    /// (wmem_default, about 208 KiB in flight) made every relay hop wake up five times as often;
    /// measured with `VARIANTS=enclave-init:enclave-init scripts/bench relay`: 10.7-11.4 Gb/s
    /// before, 12.5-13.3 after. Real vsock keeps the kernel's vsock buffer size.
    public static let unixSocketBuffer = 1 << 20
}
