// LeukClinic: Users, sessions, diagnoses, appointments, messages and the audit log.
