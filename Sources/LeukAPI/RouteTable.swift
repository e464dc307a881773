/// Every operation of docs/api/openapi.yaml with the rules the document does not carry: who may call it,
/// the query parameters it takes, its body limit and its body's fields (`APIRoute`). `OperationGate` applies
/// a row before the generated server reads the request; `OpenAPITests` checks the table against the document
/// (every operation once, the same paths and query parameters), so neither can drift from the other.
enum RouteTable {
    /// - Parameter maxImageBytes: the clinic's image limit; a diagnosis body carries the image in base64 (a
    ///   third larger), so its limit is that plus the overhead.
    static func routes(maxImageBytes: Int) -> [APIRoute] {
        let diagnoseBodyLimit = maxImageBytes / 3 * 4 + 64 * 1024
        return [
            APIRoute(.get, "/v1/health", access: .open, summary: "Liveness check", operationID: "health"),
            APIRoute(.get, "/v1/openapi.yaml", access: .open, summary: "This API's OpenAPI 3 document", operationID: "openAPIDocument"),
            APIRoute(.get, "/metrics", access: .open, summary: "Prometheus metrics", operationID: "metrics"),

            // Sessions and users.
            APIRoute(.post, "/v1/login", access: .open, body: .required(["name", "password"]),
                     summary: "Log in; returns a bearer token", operationID: "login"),
            APIRoute(.post, "/v1/logout", access: .signedIn, summary: "End this session", operationID: "logout"),
            APIRoute(.get, "/v1/me", access: .signedIn, summary: "The signed-in user", operationID: "me"),
            APIRoute(.get, "/v1/users", access: .signedIn, summary: "Users (admin) or own patients (doctor)", operationID: "listUsers"),
            APIRoute(.post, "/v1/users", access: .signedIn, body: .required(["name", "role", "password"]),
                     summary: "Create a user (admin)", operationID: "createUser"),
            APIRoute(.post, "/v1/users/{id}/revoke-sessions", access: .signedIn, summary: "End every session of a user (admin)",
                     operationID: "revokeSessions"),
            APIRoute(.post, "/v1/users/{id}/disable", access: .signedIn, summary: "Disable an account (admin)", operationID: "disableUser"),
            APIRoute(.post, "/v1/users/{id}/enable", access: .signedIn, summary: "Enable a disabled account (admin)", operationID: "enableUser"),
            APIRoute(.post, "/v1/break-glass", access: .signedIn, body: .required(["patient", "reason"]),
                     summary: "Emergency access to one patient's records (admin, audited)", operationID: "breakGlass"),

            // Diagnoses.
            APIRoute(.post, "/v1/diagnoses", access: .signedIn, maxBodyBytes: diagnoseBodyLimit,
                     body: .required(["patient", "file_name", "image_base64"]),
                     summary: "Diagnose a cell image for a patient (doctor)", operationID: "diagnose"),
            APIRoute(.get, "/v1/diagnoses", access: .signedIn, query: ["patient"], summary: "Diagnoses the caller may see",
                     operationID: "listDiagnoses"),
            APIRoute(.get, "/v1/diagnoses/{id}", access: .signedIn, summary: "One diagnosis", operationID: "getDiagnosis"),
            APIRoute(.get, "/v1/diagnoses/{id}/image", access: .signedIn, summary: "The diagnosed image", operationID: "getDiagnosisImage"),
            APIRoute(.post, "/v1/diagnoses/{id}/review", access: .signedIn, body: .required(["note"]),
                     summary: "Add the doctor's note (doctor)", operationID: "reviewDiagnosis"),
            APIRoute(.post, "/v1/diagnoses/{id}/release", access: .signedIn, body: .optional(["note"]),
                     summary: "Release the result to the patient (doctor)", operationID: "releaseDiagnosis"),

            // Slots and appointments.
            APIRoute(.post, "/v1/slots", access: .signedIn, body: .required(["start", "end"]),
                     summary: "Publish an availability slot (doctor)", operationID: "addSlot"),
            APIRoute(.get, "/v1/slots", access: .signedIn, query: ["doctor", "free", "from"], summary: "Availability slots",
                     operationID: "listSlots"),
            APIRoute(.delete, "/v1/slots/{id}", access: .signedIn, summary: "Withdraw one of the caller's free slots (doctor)",
                     operationID: "removeSlot"),
            APIRoute(.post, "/v1/appointments", access: .signedIn, body: .required(["slot", "patient", "reason"]),
                     summary: "Book a free slot", operationID: "book"),
            APIRoute(.get, "/v1/appointments", access: .signedIn, query: ["patient"], summary: "Appointments the caller may see",
                     operationID: "listAppointments"),
            APIRoute(.get, "/v1/appointments/{id}", access: .signedIn, summary: "One appointment", operationID: "getAppointment"),
            APIRoute(.post, "/v1/appointments/{id}/confirm", access: .signedIn, summary: "Confirm (the appointment's doctor)",
                     operationID: "confirmAppointment"),
            APIRoute(.post, "/v1/appointments/{id}/reschedule", access: .signedIn, body: .required(["slot"]),
                     summary: "Move to another free slot", operationID: "rescheduleAppointment"),
            APIRoute(.post, "/v1/appointments/{id}/cancel", access: .signedIn, body: .optional(["reason"]), summary: "Cancel",
                     operationID: "cancelAppointment"),
            APIRoute(.post, "/v1/appointments/{id}/complete", access: .signedIn, summary: "Mark as held (the appointment's doctor)",
                     operationID: "completeAppointment"),

            // Messages and events.
            APIRoute(.post, "/v1/appointments/{id}/messages", access: .signedIn, body: .required(["body"]),
                     summary: "Write in the appointment's thread", operationID: "sendMessage"),
            APIRoute(.get, "/v1/appointments/{id}/messages", access: .signedIn, summary: "The appointment's thread",
                     operationID: "listMessages"),
            APIRoute(.get, "/v1/events", access: .signedIn, query: ["appointment", "limit"],
                     summary: "Server-sent events: new messages and appointment changes", operationID: "events"),

            // Audit.
            APIRoute(.get, "/v1/audit/verify", access: .signedIn, summary: "Check the audit chain (admin)", operationID: "verifyAudit"),
            APIRoute(.get, "/v1/audit", access: .signedIn, query: ["after", "limit", "patient"], summary: "Audit entries (admin)",
                     operationID: "auditLog"),

            // Node control, for the operator (DATA_DIR/admin.token) and admins.
            APIRoute(.get, "/v1/status", access: .administrator, summary: "The node's federation status", operationID: "status"),
            APIRoute(.get, "/v1/peers", access: .administrator, summary: "Admitted peers with live state", operationID: "listPeers"),
            APIRoute(.post, "/v1/peers", access: .administrator, body: .required(["contact"]), summary: "Admit a peer by its contact string",
                     operationID: "addPeer"),
            APIRoute(.delete, "/v1/peers/{id}", access: .administrator, summary: "Revoke a peer; its connection closes at once",
                     operationID: "removePeer"),
            APIRoute(.get, "/v1/model/history", access: .administrator, query: ["limit"],
                     summary: "Lineage of the current model: versions and the institutions' updates in each", operationID: "modelHistory"),
            APIRoute(.get, "/v1/model/serving", access: .administrator, query: ["limit"],
                     summary: "The served model, the pin, the site's floors and the promotion decisions", operationID: "modelServing"),
            APIRoute(.post, "/v1/model/promote", access: .administrator, body: .required(["version", "force"]),
                     summary: "Serve a kept model version at once (audited)", operationID: "promoteModel"),
            APIRoute(.post, "/v1/model/rollback", access: .administrator, summary: "Serve the previously served model again and pin it (audited)",
                     operationID: "rollbackModel"),
            APIRoute(.post, "/v1/model/pin", access: .administrator, body: .required(["pinned"]),
                     summary: "Pin the served model, or hand control back to the gate (audited)", operationID: "pinModel"),
            APIRoute(.get, "/v1/model", access: .administrator, summary: "The current federated model (safetensors)", operationID: "model"),
        ]
    }
}
