import LeukCore
import LeukStore
import Foundation

extension Clinic {
    /// Records an operator's action on the node itself (serving a model, rolling back, pinning) in the
    /// clinic's audit chain, synced, so the log that shows who diagnosed also shows which model they
    /// diagnosed with and who decided it. `succeeded: false` records a refused or failed attempt.
    public func recordNodeAction(by caller: Caller, action: String, target: String, detail: String, succeeded: Bool) throws(ClinicError) {
        try commit(AuditEvent(action: action, targetID: target, outcome: succeeded ? .ok : .failed, detail: detail), by: caller)
    }

    /// Checks the whole audit chain (admins only). The check itself is audited.
    public func verifyAudit(by caller: Caller) throws(ClinicError) -> AuditVerification {
        guard caller.isAdministrator else {
            throw denied(.forbidden("only an admin can verify the audit log"), action: "audit.verify", by: caller)
        }
        let result: AuditVerification
        do {
            result = try AuditChain.verify(store: store)
        } catch {
            throw .storage(error)
        }
        // A failed verification is recorded after the check, so it does not disturb what was checked.
        try commit(AuditEvent(action: "audit.verify", outcome: result.ok ? .ok : .failed,
                              detail: result.ok ? "\(result.entries) entries intact" : result.problems.joined(separator: "; ")), by: caller)
        return result
    }

    /// Audit entries in order (admins only): those after `afterSeq`, at most `limit`, optionally only
    /// those about one patient. Entries that cannot be read are skipped here; `verifyAudit` reports them.
    public func auditLog(by caller: Caller, afterSeq: UInt64 = 0, limit: Int = 100, patient reference: String? = nil) throws(ClinicError) -> [AuditEntryInfo] {
        guard caller.isAdministrator else {
            throw denied(.forbidden("only an admin can read the audit log"), action: "audit.read", by: caller)
        }
        guard (1...10_000).contains(limit) else { throw .invalid("limit must be between 1 and 10000") }
        var patientID: String?
        if let reference { patientID = try requirePatient(reference).id }
        let rows: [(key: [UInt8], value: [UInt8])]
        do {
            rows = try store.database.scan(prefix: Spaces.audit.prefix)
        } catch {
            throw .storage(error)
        }
        var out: [AuditEntryInfo] = []
        for row in rows {
            let id = String(decoding: row.key.dropFirst(Spaces.audit.prefix.count), as: UTF8.self)
            guard let seq = UInt64(id), seq > afterSeq else { continue }
            guard let record = try? store.decodeValue(row.value, as: AuditRecord.self, in: Spaces.audit, id: id) else { continue }
            if let patientID, record.patientID != patientID { continue }
            out.append(record.info)
            if out.count == limit { break }
        }
        return out
    }
}
