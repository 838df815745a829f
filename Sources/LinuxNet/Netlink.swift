import CNetlink

/// The libnl library linked into this binary (the network step talks to the kernel through it).
public enum Netlink {
    public static var libraryVersion: String { "\(nl_ver_maj).\(nl_ver_min).\(nl_ver_mic)" }
}
