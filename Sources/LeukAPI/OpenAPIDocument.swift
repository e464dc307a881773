// Generated from docs/api/openapi.yaml: do not edit by hand. Regenerate with
//   { sed -n 1,8p Sources/LeukAPI/OpenAPIDocument.swift; cat docs/api/openapi.yaml; printf '"""#\n}\n'; } > /tmp/o.swift && mv /tmp/o.swift Sources/LeukAPI/OpenAPIDocument.swift
// (the LeukAPITests check that this string and the file are identical, and that the document
// describes exactly the routes the server registers).

/// The OpenAPI 3 document served at `/v1/openapi.yaml`, compiled in so the binary needs no resource files.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.0.3
info:
  title: leuknode local API
  version: "1"
  description: |
    The HTTP API of one leuknode, served on loopback (127.0.0.1:7480 by default; `api` in
    DATA_DIR/config.json). The `leuknode` CLI is a client of this API. Authenticate with
    `Authorization: Bearer <token>`, where the token comes from `POST /v1/login` or is the
    operator token in DATA_DIR/admin.token (mode 0600), which acts as an admin.

    Every error is JSON: `{"error": {"status": 404, "message": "...", "hint": "..."}}`.
    Request bodies are JSON objects; unknown fields, wrong types, malformed JSON and dates that are
    not ISO 8601 (`2026-12-01T09:30:00Z`) are refused with 400, bodies over a route's limit with 413.
    Who may call what is the role x route matrix in docs/clinic.md; every read and write of patient
    data is recorded in the hash-chained audit log.
servers:
  - url: http://127.0.0.1:7480
security:
  - bearer: []
paths:
  /v1/health:
    get:
      operationId: health
      summary: Liveness check
      security: []
      responses:
        "200":
          description: The node is serving.
          content:
            application/json:
              schema:
                type: object
                properties:
                  status:
                    type: string
                    example: ok
        "400":
          $ref: "#/components/responses/BadRequest"
  /v1/openapi.yaml:
    get:
      operationId: openAPIDocument
      summary: This document
      security: []
      responses:
        "200":
          description: The OpenAPI 3 document (this file, docs/api/openapi.yaml).
          content:
            application/yaml:
              schema:
                type: object
                required: [openapi, info, paths]
                properties:
                  openapi:
                    type: string
                    example: 3.0.3
        "400":
          $ref: "#/components/responses/BadRequest"
  /metrics:
    get:
      operationId: metrics
      summary: Prometheus metrics
      description: Request counts and latencies (`leuknode_api_requests_total`, `leuknode_api_request_duration_seconds`) and every metric the node registers.
      security: []
      responses:
        "200":
          description: Prometheus text exposition format 0.0.4.
          content:
            text/plain:
              schema:
                type: string
        "400":
          $ref: "#/components/responses/BadRequest"
  /v1/login:
    post:
      operationId: login
      summary: Log in; returns a bearer token
      description: After 5 failed logins in a row the account locks for 30 s, doubling with each further failure (429 with Retry-After). The session ends after 15 minutes without a request.
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/LoginRequest"
      responses:
        "200":
          description: Logged in.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/LoginResult"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "413":
          $ref: "#/components/responses/TooLarge"
        "429":
          $ref: "#/components/responses/Locked"
  /v1/logout:
    post:
      operationId: logout
      summary: End this session
      responses:
        "204":
          description: Logged out.
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "413":
          $ref: "#/components/responses/TooLarge"
  /v1/me:
    get:
      operationId: me
      summary: The signed-in user
      responses:
        "200":
          description: The user.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/User"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
  /v1/users:
    get:
      operationId: listUsers
      summary: Users (admin), or the doctor's own patients (doctor)
      responses:
        "200":
          description: Users.
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/User"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
    post:
      operationId: createUser
      summary: Create a user (admin or operator token)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/CreateUserRequest"
      responses:
        "201":
          description: Created.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/User"
          links:
            RevokeSessions:
              operationId: revokeSessions
              parameters:
                id: "$response.body#/id"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "409":
          $ref: "#/components/responses/Conflict"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
  /v1/users/{id}/revoke-sessions:
    post:
      operationId: revokeSessions
      summary: End every session of a user (admin)
      parameters:
        - name: id
          in: path
          required: true
          description: User id or name.
          schema:
            type: string
            minLength: 1
      responses:
        "200":
          description: How many sessions ended.
          content:
            application/json:
              schema:
                type: object
                properties:
                  revoked:
                    type: integer
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "413":
          $ref: "#/components/responses/TooLarge"
  /v1/break-glass:
    post:
      operationId: breakGlass
      summary: Emergency access to one patient's records (admin; audited, lasts 15 minutes)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/BreakGlassRequest"
      responses:
        "201":
          description: Granted.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/BreakGlassGrant"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
  /v1/diagnoses:
    post:
      operationId: diagnose
      summary: Diagnose a cell image for a patient with the node's current model (doctor)
      description: Stores the diagnosis (every class probability, model digest and version, image SHA-256, the image encrypted at rest) and, when P(all) calls for a follow-up, proposes an appointment in the earliest free slot. The body limit is the image limit (16 MiB) in base64 plus 64 KiB.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/DiagnoseRequest"
      responses:
        "201":
          description: Diagnosed.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/DiagnosisOutcome"
          links:
            GetDiagnosis:
              operationId: getDiagnosis
              parameters:
                id: "$response.body#/diagnosis/id"
            GetDiagnosisImage:
              operationId: getDiagnosisImage
              parameters:
                id: "$response.body#/diagnosis/id"
            ReviewDiagnosis:
              operationId: reviewDiagnosis
              parameters:
                id: "$response.body#/diagnosis/id"
            ReleaseDiagnosis:
              operationId: releaseDiagnosis
              parameters:
                id: "$response.body#/diagnosis/id"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
        "503":
          $ref: "#/components/responses/Unavailable"
    get:
      operationId: listDiagnoses
      summary: Diagnoses the caller may see (patients see only released ones)
      parameters:
        - name: patient
          in: query
          required: false
          description: Patient id or name (required for admins under break-glass).
          schema:
            type: string
            minLength: 1
      responses:
        "200":
          description: Diagnoses, oldest first.
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/Diagnosis"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
  /v1/diagnoses/{id}:
    get:
      operationId: getDiagnosis
      summary: One diagnosis
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^dgn_[0-9a-f]{32}$"
      responses:
        "200":
          description: The diagnosis.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Diagnosis"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
  /v1/diagnoses/{id}/image:
    get:
      operationId: getDiagnosisImage
      summary: The diagnosed image, decrypted
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^dgn_[0-9a-f]{32}$"
      responses:
        "200":
          description: The image bytes as submitted.
          content:
            application/octet-stream:
              schema:
                type: string
                format: binary
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
  /v1/diagnoses/{id}/review:
    post:
      operationId: reviewDiagnosis
      summary: Set the doctor's note; a pending diagnosis becomes reviewed (the patient's doctor)
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^dgn_[0-9a-f]{32}$"
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/NoteRequest"
      responses:
        "200":
          description: The updated diagnosis.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Diagnosis"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
  /v1/diagnoses/{id}/release:
    post:
      operationId: releaseDiagnosis
      summary: Release the result to the patient (the patient's doctor)
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^dgn_[0-9a-f]{32}$"
      requestBody:
        required: false
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/ReleaseRequest"
      responses:
        "200":
          description: The released diagnosis.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Diagnosis"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          $ref: "#/components/responses/Conflict"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
  /v1/slots:
    post:
      operationId: addSlot
      summary: Publish an availability slot (doctor; no overlap with the doctor's other slots)
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/SlotRequest"
      responses:
        "201":
          description: Created.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Slot"
          links:
            Book:
              operationId: book
              requestBody:
                slot: "$response.body#/id"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "409":
          $ref: "#/components/responses/Conflict"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
    get:
      operationId: listSlots
      summary: Availability slots, in time order
      parameters:
        - name: doctor
          in: query
          required: false
          description: Doctor id or name.
          schema:
            type: string
            minLength: 1
        - name: free
          in: query
          required: false
          description: Only slots no appointment holds.
          schema:
            type: boolean
        - name: from
          in: query
          required: false
          description: Only slots starting at or after this ISO 8601 time.
          schema:
            type: string
            format: date-time
      responses:
        "200":
          description: Slots.
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/Slot"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "404":
          $ref: "#/components/responses/NotFound"
        "422":
          $ref: "#/components/responses/Invalid"
  /v1/appointments:
    post:
      operationId: book
      summary: Book a free slot (a patient for themselves, a doctor in their own slot for a patient)
      description: Exactly one of many concurrent bookings of one slot succeeds; the others get 409.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/BookRequest"
      responses:
        "201":
          description: Requested (the doctor confirms).
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Appointment"
          links:
            GetAppointment:
              operationId: getAppointment
              parameters:
                id: "$response.body#/id"
            ConfirmAppointment:
              operationId: confirmAppointment
              parameters:
                id: "$response.body#/id"
            RescheduleAppointment:
              operationId: rescheduleAppointment
              parameters:
                id: "$response.body#/id"
            CancelAppointment:
              operationId: cancelAppointment
              parameters:
                id: "$response.body#/id"
            CompleteAppointment:
              operationId: completeAppointment
              parameters:
                id: "$response.body#/id"
            SendMessage:
              operationId: sendMessage
              parameters:
                id: "$response.body#/id"
            ListMessages:
              operationId: listMessages
              parameters:
                id: "$response.body#/id"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          $ref: "#/components/responses/Conflict"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
    get:
      operationId: listAppointments
      summary: Appointments the caller takes part in (admins one patient's under break-glass)
      parameters:
        - name: patient
          in: query
          required: false
          description: Patient id or name.
          schema:
            type: string
            minLength: 1
      responses:
        "200":
          description: Appointments.
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/Appointment"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
  /v1/appointments/{id}:
    get:
      operationId: getAppointment
      summary: One appointment
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^apt_[0-9a-f]{32}$"
      responses:
        "200":
          description: The appointment.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Appointment"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
  /v1/appointments/{id}/confirm:
    post:
      operationId: confirmAppointment
      summary: Confirm a requested or rescheduled appointment (its doctor)
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^apt_[0-9a-f]{32}$"
      responses:
        "200":
          description: Confirmed.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Appointment"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          $ref: "#/components/responses/Conflict"
        "413":
          $ref: "#/components/responses/TooLarge"
  /v1/appointments/{id}/reschedule:
    post:
      operationId: rescheduleAppointment
      summary: Move to another free slot of the same doctor (its patient or doctor); the doctor confirms again
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^apt_[0-9a-f]{32}$"
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/RescheduleRequest"
      responses:
        "200":
          description: Rescheduled.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Appointment"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          $ref: "#/components/responses/Conflict"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
  /v1/appointments/{id}/cancel:
    post:
      operationId: cancelAppointment
      summary: Cancel (its patient or doctor); the slot is free again
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^apt_[0-9a-f]{32}$"
      requestBody:
        required: false
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/CancelRequest"
      responses:
        "200":
          description: Cancelled.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Appointment"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          $ref: "#/components/responses/Conflict"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
  /v1/appointments/{id}/complete:
    post:
      operationId: completeAppointment
      summary: Mark a confirmed appointment as held (its doctor)
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^apt_[0-9a-f]{32}$"
      responses:
        "200":
          description: Completed.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Appointment"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "409":
          $ref: "#/components/responses/Conflict"
        "413":
          $ref: "#/components/responses/TooLarge"
  /v1/appointments/{id}/messages:
    post:
      operationId: sendMessage
      summary: Write in the appointment's thread (its patient or doctor)
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^apt_[0-9a-f]{32}$"
      requestBody:
        required: true
        content:
          application/json:
            schema:
              $ref: "#/components/schemas/MessageRequest"
      responses:
        "201":
          description: Sent (and pushed to both participants' event streams).
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Message"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "413":
          $ref: "#/components/responses/TooLarge"
        "422":
          $ref: "#/components/responses/Invalid"
    get:
      operationId: listMessages
      summary: The appointment's thread, oldest first
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
            pattern: "^apt_[0-9a-f]{32}$"
      responses:
        "200":
          description: Messages.
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/Message"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
  /v1/events:
    get:
      operationId: events
      summary: Server-sent events for the caller (patients and doctors)
      description: |
        A `text/event-stream` (https://html.spec.whatwg.org/multipage/server-sent-events.html). Every event is
        an `event:` line, one `data:` line holding one JSON object, and a blank line:

        | `event:` | `data:` | when |
        | --- | --- | --- |
        | `ready` | `{}` (ReadyEvent) | first, once the subscription is in place |
        | `message` | a ClinicEvent with `type` `message` and `message` set | a message in a thread the caller takes part in |
        | `appointment` | a ClinicEvent with `type` `appointment` and `appointment` set | an appointment of the caller changed |
        | `session-ended` | `{}` (SessionEndedEvent) | the session was logged out, revoked or idle for 15 minutes; the stream then closes |

        Between events the server sends the comment line `: keep-alive` every 15 s (the stream itself is
        not session activity). With `limit` the stream closes after that many `message`/`appointment` events.
        Admins get 403, even under break-glass: the stream carries clinical content.
      parameters:
        - name: appointment
          in: query
          required: false
          description: Only events of this appointment (the caller must take part in it).
          schema:
            type: string
            pattern: "^apt_[0-9a-f]{32}$"
        - name: limit
          in: query
          required: false
          description: End the stream after this many events (for scripts and tests).
          schema:
            type: integer
            minimum: 1
            maximum: 1000000
      responses:
        "200":
          description: The event stream; see the table above for the events and their `data`.
          content:
            text/event-stream:
              schema:
                type: string
                description: "Server-sent events whose `data` is a ReadyEvent, ClinicEvent or SessionEndedEvent."
              example: |
                event: ready
                data: {}

                event: message
                data: {"appointment_id":"apt_5d0c3a5e9b1d4c2a7e6f5d4c3b2a1908","message":{"appointment_id":"apt_5d0c3a5e9b1d4c2a7e6f5d4c3b2a1908","body":"Should I fast before?","id":"msg_0c3a5e9b1d4c2a7e6f5d4c3b2a19085d","sender_id":"usr_8f0c3a5e9b1d4c2a7e6f5d4c3b2a1908","sender_name":"ana","sent_at":"2026-12-01T09:30:00Z"},"type":"message"}

                : keep-alive

        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
  /v1/audit/verify:
    get:
      operationId: verifyAudit
      summary: Check the hash-chained audit log (admin)
      responses:
        "200":
          description: The result; `ok` is false when an entry was changed, deleted or cut off.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/AuditVerification"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
  /v1/audit:
    get:
      operationId: auditLog
      summary: Audit entries in order (admin)
      parameters:
        - name: after
          in: query
          required: false
          description: Only entries with a larger sequence number.
          schema:
            type: integer
            format: int64
            minimum: 0
            maximum: 9223372036854775807
        - name: limit
          in: query
          required: false
          schema:
            type: integer
            minimum: 1
            maximum: 10000
            default: 100
        - name: patient
          in: query
          required: false
          description: Only entries about this patient (id or name).
          schema:
            type: string
            minLength: 1
      responses:
        "200":
          description: Entries.
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/AuditEntry"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
  /v1/status:
    get:
      operationId: status
      summary: The node's federation status
      description: Peers, the current model, training and gossip rounds, neighbour distance, updates sent and received, refusals. Operator token or admin session.
      responses:
        "200":
          description: The status.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/NodeStatus"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "503":
          $ref: "#/components/responses/Unavailable"
  /v1/peers:
    get:
      operationId: listPeers
      summary: Admitted peers with live state
      responses:
        "200":
          description: Every admitted peer.
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/Peer"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "503":
          $ref: "#/components/responses/Unavailable"
    post:
      operationId: addPeer
      summary: Admit a peer by its contact string
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              required: [contact]
              properties:
                contact:
                  type: string
                  pattern: "^leuk1:[A-Za-z0-9_-]+@[^@]+:[0-9]+$"
                  description: The peer's `leuk1:...@host:port` contact, as its `leuknode id` prints it.
      responses:
        "201":
          description: Admitted; the node dials it.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Peer"
          links:
            RemovePeer:
              operationId: removePeer
              parameters:
                id: "$response.body#/fingerprint"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "413":
          $ref: "#/components/responses/TooLarge"
        "503":
          $ref: "#/components/responses/Unavailable"
  /v1/peers/{id}:
    delete:
      operationId: removePeer
      summary: Revoke a peer; its connection closes at once
      parameters:
        - name: id
          in: path
          required: true
          description: The peer's fingerprint or node id (at least 8 hex digits).
          schema:
            type: string
            minLength: 1
      responses:
        "200":
          description: The revoked peer.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/Peer"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "404":
          $ref: "#/components/responses/NotFound"
        "503":
          $ref: "#/components/responses/Unavailable"
  /v1/model/history:
    get:
      operationId: modelHistory
      summary: Lineage of the current model
      description: Model versions, newest first, each with the institutions whose updates (at which versions) went into it.
      parameters:
        - name: limit
          in: query
          required: false
          schema:
            type: integer
            minimum: 1
            maximum: 10000
      responses:
        "200":
          description: History entries, newest first.
          content:
            application/json:
              schema:
                type: array
                items:
                  $ref: "#/components/schemas/ModelHistoryEntry"
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "503":
          $ref: "#/components/responses/Unavailable"
  /v1/model:
    get:
      operationId: model
      summary: The current federated model (safetensors)
      responses:
        "200":
          description: A safetensors file with PyTorch-compatible tensor names and leuknode metadata.
          content:
            application/octet-stream:
              schema:
                type: string
                format: binary
        "400":
          $ref: "#/components/responses/BadRequest"
        "401":
          $ref: "#/components/responses/Unauthorized"
        "403":
          $ref: "#/components/responses/Forbidden"
        "503":
          $ref: "#/components/responses/Unavailable"
components:
  securitySchemes:
    bearer:
      type: http
      scheme: bearer
  responses:
    BadRequest:
      description: >-
        Malformed JSON, an unknown field, a wrong type, `null` for a field, a value outside its schema (length,
        pattern), a bad date, or an unknown, repeated, empty or malformed query parameter.
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
    Unauthorized:
      description: No token, or an invalid, revoked or expired one.
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
    Forbidden:
      description: The caller's role or relation to the patient does not allow this.
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
    NotFound:
      description: No such record (or, for a patient, a diagnosis not released yet).
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
    Conflict:
      description: The state forbids it (a booked slot, a taken name, an appointment already cancelled).
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
    TooLarge:
      description: The body is larger than the route's limit.
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
    Invalid:
      description: >-
        Well-formed, but the values make no sense: a rule the schema cannot state (a slot in the past, a date outside
        the years 1970 to 2499, an image the model cannot decode, a message of only spaces, a reserved user name).
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
    Locked:
      description: Too many failed logins; see the Retry-After header.
      headers:
        Retry-After:
          description: Seconds until the account may try again.
          schema:
            type: integer
            minimum: 1
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
    Unavailable:
      description: The node has no usable model yet.
      content:
        application/json:
          schema:
            $ref: "#/components/schemas/Error"
  schemas:
    Peer:
      type: object
      required: [id, fingerprint, address, state, bytes_in, bytes_out, score, rejected]
      properties:
        id: {type: string, description: "Ed25519 public key, hex"}
        fingerprint: {type: string}
        address: {type: string}
        state: {type: string, enum: [connected, connecting, unreachable, refused, offline]}
        last_seen: {type: string, format: date-time}
        bytes_in: {type: integer}
        bytes_out: {type: integer}
        score: {type: number}
        rejected: {type: object, additionalProperties: {type: integer}}
    ModelHistoryEntry:
      type: object
      required: [version, round, sha256, architecture, sample_count, contributors, created_at]
      properties:
        version: {type: integer}
        round: {type: integer}
        sha256: {type: string}
        architecture: {type: string}
        sample_count: {type: integer}
        contributors:
          type: array
          items:
            type: object
            properties:
              author: {type: string}
              version: {type: integer}
        created_at: {type: string, format: date-time}
        validation_accuracy: {type: number}
        validation_loss: {type: number}
    NodeStatus:
      type: object
      required: [peers, model, round, updates_sent, updates_received, rejected, refused_connections]
      properties:
        id: {type: string}
        name: {type: string}
        fingerprint: {type: string}
        listen: {type: string}
        peers:
          type: array
          items:
            $ref: "#/components/schemas/Peer"
        model:
          type: object
          properties:
            version: {type: integer}
            sha256: {type: string}
            sample_count: {type: integer}
            architecture: {type: string}
            contributors:
              type: array
              items:
                type: object
                properties:
                  id: {type: string}
                  name: {type: string}
                  version: {type: integer}
        round: {type: integer, description: "local training rounds since start"}
        gossip_round: {type: integer}
        neighbor_distance: {type: number, nullable: true}
        updates_sent: {type: integer}
        updates_received: {type: integer}
        rejected: {type: object, additionalProperties: {type: integer}}
        refused_connections: {type: integer}
        strangers:
          type: array
          items:
            type: object
            properties:
              fingerprint: {type: string}
              address: {type: string}
              attempts: {type: integer}
              last_attempt: {type: string, format: date-time}
        last_loss: {type: number, nullable: true}
        validation_accuracy: {type: number, nullable: true}
        training: {type: string}
    Error:
      type: object
      required: [error]
      properties:
        error:
          type: object
          required: [status, message]
          properties:
            status:
              type: integer
              example: 404
            message:
              type: string
              example: no diagnosis with id 'dgn_00'
            hint:
              type: string
              example: list them first to find the right id
    UserReference:
      type: string
      description: A user's id (`usr_` and 32 hex digits) or name.
      minLength: 1
    SlotID:
      type: string
      pattern: "^slt_[0-9a-f]{32}$"
      example: slt_5d0c3a5e9b1d4c2a7e6f5d4c3b2a1908
    Role:
      type: string
      enum: [admin, doctor, patient]
    LoginRequest:
      type: object
      additionalProperties: false
      required: [name, password]
      properties:
        name:
          type: string
        password:
          type: string
    LoginResult:
      type: object
      required: [token, user, idle_timeout_seconds]
      properties:
        token:
          type: string
          description: "Send as `Authorization: Bearer <token>`; the node stores only its SHA-256."
        user:
          $ref: "#/components/schemas/User"
        idle_timeout_seconds:
          type: integer
          example: 900
    CreateUserRequest:
      type: object
      additionalProperties: false
      required: [name, role, password]
      properties:
        name:
          type: string
          description: 1 to 64 ASCII letters, digits, '.', '_', '-' or '@'; unique, case-insensitively; not `operator`.
          minLength: 1
          maxLength: 64
          pattern: "^[A-Za-z0-9._@-]+$"
          not:
            pattern: "^[Oo][Pp][Ee][Rr][Aa][Tt][Oo][Rr]$"
        role:
          $ref: "#/components/schemas/Role"
        password:
          type: string
          minLength: 8
          maxLength: 1024
    User:
      type: object
      required: [id, name, role, created_at]
      properties:
        id:
          type: string
          example: usr_8f0c3a5e9b1d4c2a7e6f5d4c3b2a1908
        name:
          type: string
        role:
          $ref: "#/components/schemas/Role"
        created_at:
          type: string
          format: date-time
        locked_until:
          type: string
          format: date-time
    BreakGlassRequest:
      type: object
      additionalProperties: false
      required: [patient, reason]
      properties:
        patient:
          $ref: "#/components/schemas/UserReference"
        reason:
          type: string
          description: Why, for the audit log (surrounding whitespace is not counted).
          minLength: 10
          maxLength: 1000
          pattern: "[^ \\t\\n\\r]"
    BreakGlassGrant:
      type: object
      required: [patient_id, reason, expires_at]
      properties:
        patient_id:
          type: string
        reason:
          type: string
        expires_at:
          type: string
          format: date-time
    DiagnoseRequest:
      type: object
      additionalProperties: false
      required: [patient, file_name, image_base64]
      properties:
        patient:
          $ref: "#/components/schemas/UserReference"
        file_name:
          type: string
          description: The image's file name (its last path component is kept; 1 to 255 bytes of UTF-8).
          minLength: 1
          maxLength: 255
        image_base64:
          type: string
          format: byte
          description: The image file (PNG, JPEG, BMP or TIFF), base64 with padding; at most 16 MiB decoded.
          minLength: 4
          pattern: "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
    Diagnosis:
      type: object
      required: [id, patient_id, patient_name, doctor_id, doctor_name, created_at, image_sha256, image_file_name, image_bytes, probabilities, predicted, model_sha256, model_version, response_time_ms, follow_up, review_state, note]
      properties:
        id:
          type: string
        patient_id:
          type: string
        patient_name:
          type: string
        doctor_id:
          type: string
        doctor_name:
          type: string
        created_at:
          type: string
          format: date-time
        image_sha256:
          type: string
        image_file_name:
          type: string
        image_bytes:
          type: integer
        probabilities:
          type: object
          additionalProperties:
            type: number
          example:
            all: 0.97
            hem: 0.03
        predicted:
          type: string
        model_sha256:
          type: string
        model_version:
          type: integer
        response_time_ms:
          type: number
        follow_up:
          type: string
          enum: [urgent, review, routine]
        review_state:
          type: string
          enum: [pending_review, reviewed, released]
        note:
          type: string
        reviewed_at:
          type: string
          format: date-time
        released_at:
          type: string
          format: date-time
        appointment_id:
          type: string
    DiagnosisOutcome:
      type: object
      required: [diagnosis]
      properties:
        diagnosis:
          $ref: "#/components/schemas/Diagnosis"
        appointment:
          $ref: "#/components/schemas/Appointment"
        warning:
          type: string
          description: Why no appointment was proposed although the outcome needs one.
    NoteRequest:
      type: object
      additionalProperties: false
      required: [note]
      properties:
        note:
          type: string
          maxLength: 4000
    ReleaseRequest:
      type: object
      additionalProperties: false
      properties:
        note:
          type: string
          description: Replaces the doctor's note; leave the field out to keep it (`null` is refused).
          maxLength: 4000
    SlotRequest:
      type: object
      additionalProperties: false
      required: [start, end]
      properties:
        start:
          type: string
          format: date-time
        end:
          type: string
          format: date-time
    Slot:
      type: object
      required: [id, doctor_id, doctor_name, start, end, booked]
      properties:
        id:
          type: string
        doctor_id:
          type: string
        doctor_name:
          type: string
        start:
          type: string
          format: date-time
        end:
          type: string
          format: date-time
        booked:
          type: boolean
    BookRequest:
      type: object
      additionalProperties: false
      required: [slot]
      properties:
        slot:
          $ref: "#/components/schemas/SlotID"
        patient:
          allOf:
            - $ref: "#/components/schemas/UserReference"
          description: Required when a doctor books; a patient may only name themselves.
        reason:
          type: string
          maxLength: 4000
    RescheduleRequest:
      type: object
      additionalProperties: false
      required: [slot]
      properties:
        slot:
          $ref: "#/components/schemas/SlotID"
    CancelRequest:
      type: object
      additionalProperties: false
      properties:
        reason:
          type: string
          description: For the audit log; leave the field out for none (`null` is refused).
          maxLength: 4000
    Appointment:
      type: object
      required: [id, patient_id, patient_name, doctor_id, doctor_name, slot_id, start, end, state, follow_up, reason, created_at, updated_at]
      properties:
        id:
          type: string
        patient_id:
          type: string
        patient_name:
          type: string
        doctor_id:
          type: string
        doctor_name:
          type: string
        slot_id:
          type: string
        start:
          type: string
          format: date-time
        end:
          type: string
          format: date-time
        state:
          type: string
          enum: [requested, confirmed, rescheduled, cancelled, completed]
        follow_up:
          type: string
          enum: [urgent, review, routine]
        reason:
          type: string
        diagnosis_id:
          type: string
        deadline:
          type: string
          format: date-time
        within_deadline:
          type: boolean
        created_at:
          type: string
          format: date-time
        updated_at:
          type: string
          format: date-time
    MessageRequest:
      type: object
      additionalProperties: false
      required: [body]
      properties:
        body:
          type: string
          description: The text; surrounding whitespace is trimmed, and a message of only whitespace is refused.
          minLength: 1
          maxLength: 4000
          pattern: "[^ \\t\\n\\r]"
    Message:
      type: object
      required: [id, appointment_id, sender_id, sender_name, sent_at, body]
      properties:
        id:
          type: string
        appointment_id:
          type: string
        sender_id:
          type: string
        sender_name:
          type: string
        sent_at:
          type: string
          format: date-time
        body:
          type: string
    ReadyEvent:
      type: object
      description: "The `data` of `event: ready`, an empty object."
      additionalProperties: false
    SessionEndedEvent:
      type: object
      description: "The `data` of `event: session-ended`, an empty object; the stream closes after it."
      additionalProperties: false
    ClinicEvent:
      type: object
      description: >-
        The `data` of `event: message` (then `type` is `message` and `message` is set) and of
        `event: appointment` (then `type` is `appointment` and `appointment` is set).
      required: [type, appointment_id]
      properties:
        type:
          type: string
          enum: [message, appointment]
        appointment_id:
          type: string
        message:
          $ref: "#/components/schemas/Message"
        appointment:
          $ref: "#/components/schemas/Appointment"
    AuditVerification:
      type: object
      required: [ok, entries, problems]
      properties:
        ok:
          type: boolean
        entries:
          type: integer
        problems:
          type: array
          items:
            type: string
    AuditEntry:
      type: object
      required: [seq, time, actor_id, actor_role, action, outcome, detail, hash]
      properties:
        seq:
          type: integer
        time:
          type: string
          format: date-time
        actor_id:
          type: string
        actor_role:
          type: string
        action:
          type: string
          example: diagnosis.read
        patient_id:
          type: string
        target_id:
          type: string
        outcome:
          type: string
          enum: [ok, denied, failed]
        detail:
          type: string
        hash:
          type: string
"""#
}
