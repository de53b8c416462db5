import ArgumentParser
import NIOCore
import NIOPosix

@main
enum Main {
    static func main() async {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await ConduitCommand.main()
    }
}
