rootProject.name = "kotlin-service"
