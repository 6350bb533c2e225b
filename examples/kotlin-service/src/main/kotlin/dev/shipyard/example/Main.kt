package dev.shipyard.example

import com.sun.net.httpserver.HttpServer
import java.net.InetSocketAddress

/** A minimal HTTP service on the JDK's built-in server: GET /healthz and GET /hello?name=... */
fun main() {
    val port = System.getenv("PORT")?.toIntOrNull() ?: 8080
    val server = HttpServer.create(InetSocketAddress(port), 0)
    server.createContext("/healthz") { ex ->
        val body = """{"status":"ok"}""".toByteArray()
        ex.responseHeaders.add("Content-Type", "application/json")
        ex.sendResponseHeaders(200, body.size.toLong())
        ex.responseBody.use { it.write(body) }
    }
    server.createContext("/hello") { ex ->
        val name = ex.requestURI.query?.removePrefix("name=") ?: "world"
        val body = """{"message":"hello ${name.replace("\"", "")}"}""".toByteArray()
        ex.responseHeaders.add("Content-Type", "application/json")
        ex.sendResponseHeaders(200, body.size.toLong())
        ex.responseBody.use { it.write(body) }
    }
    server.start()
    println("kotlin-service listening on :$port")
}
