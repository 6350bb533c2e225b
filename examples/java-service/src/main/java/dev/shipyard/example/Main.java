package dev.shipyard.example;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/** A minimal HTTP service: GET /healthz and GET /hello?name=... on $PORT (default 8080). */
public final class Main {
    private Main() {}

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        HttpServer server = HttpServer.create(new InetSocketAddress(port), 0);
        server.createContext("/healthz", exchange -> send(exchange, 200, "{\"status\":\"ok\"}"));
        server.createContext("/hello", exchange -> {
            String query = exchange.getRequestURI().getQuery();
            String name = query != null && query.startsWith("name=") ? query.substring(5) : "world";
            send(exchange, 200, "{\"message\":\"hello " + name.replace("\"", "") + "\"}");
        });
        server.start();
        System.out.println("java-service listening on :" + port);
    }

    private static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
