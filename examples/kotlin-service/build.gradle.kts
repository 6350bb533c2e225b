plugins {
    kotlin("jvm") version "2.0.21"
    application
}

group = "dev.shipyard.example"
version = "1.0.0"

repositories {
    mavenCentral()
}

kotlin {
    jvmToolchain(21)
}

application {
    mainClass.set("dev.shipyard.example.MainKt")
}

// A runnable fat jar in build/libs (what Shipyard's generated Dockerfile copies): the Kotlin stdlib is bundled.
tasks.jar {
    manifest { attributes["Main-Class"] = "dev.shipyard.example.MainKt" }
    duplicatesStrategy = DuplicatesStrategy.EXCLUDE
    from(configurations.runtimeClasspath.get().map { if (it.isDirectory) it else zipTree(it) })
}
