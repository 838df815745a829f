/// Numeric limits of AF_VSOCK addressing.
public enum VsockLimits {
    /// VMADDR_PORT_ANY (2^32-1) is not a port one can configure.
    public static let ports: ClosedRange<Int64> = 1...4_294_967_294
    /// CID 0 is the hypervisor and 2^32-1 is VMADDR_CID_ANY; 1 is local loopback (tests), 2 the host, 3 a Nitro parent.
    public static let cids: ClosedRange<Int64> = 1...4_294_967_294
}
