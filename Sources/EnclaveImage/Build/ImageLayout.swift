/// How the image's ramdisks are laid out: who is the kernel's init.
public enum ImageLayout: Sendable, Equatable {
    /// nitro-cli's: AWS's init (from the blobs directory the aws-nitro-enclaves-cli package
    /// installs: bzImage, cmdline, init, nsm.ko) mounts the image from `rootfs/` and runs `cmd`
    /// with `env`. The image changes PCR2 only; PCR1 is AWS's kernel, cmdline and init.
    case nitroCLI(blobs: String)
    /// enclave-init is the kernel's own init: ramdisk 0 holds it (and nsm.ko when given), ramdisk
    /// 1 the image at the root, whose boot JSON says what to run. PCR1 then measures the kernel,
    /// the cmdline and enclave-init, so changing the app moves PCR2 only.
    /// `kernelModules`: an unpacked kernel package whose virtio-mmio, vsock and NSM modules go
    /// into ramdisk 0 with /modules_load_order (KernelModuleSelection), for a modular kernel.
    case enclaveInit(kernel: String, cmdline: String, nsmModule: String?, initBinary: String, kernelModules: String? = nil)

    /// A cmdline for enclave-init as init: no bare words, which the kernel would hand to init
    /// as arguments (nitro-cli's `nomodules` is one), and reboot/panic so that power-off and a
    /// crash end the enclave.
    public static let enclaveInitCmdline = "reboot=k panic=30 pci=off console=ttyS0 random.trust_cpu=on"

    /// The files the blobs directory must hold for nitro-cli's layout.
    static let blobFiles = ["bzImage", "cmdline", "init", "nsm.ko"]
}
