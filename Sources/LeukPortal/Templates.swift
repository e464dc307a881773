// The portal's Mustache templates, compiled into the binary (no resource bundle to ship or find at run time).
// `{{name}}` is HTML-escaped by swift-mustache; the only unescaped tag is the layout's `{{{content}}}`, which
// is the page template's own (already escaped) output. Dates are `<time datetime="ISO">… UTC</time>`:
// portal.js rewrites them in the browser's time zone, and without script they read in UTC, zone named.

enum Templates {
    static let all: [String: String] = [
        "layout": layout, "signin": signin, "problem": problem, "appointments": appointments, "appointment": appointment,
        "results": results, "queue": queue, "diagnosis": diagnosis, "diagnose": diagnose, "slots": slots,
        "users": users, "breakglass": breakGlass,
    ]

    static let csrfField = #"<input type="hidden" name="csrf" value="{{csrf}}">"#

    static let layout = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{title}} · leuknode</title>
    <link rel="stylesheet" href="/static/portal.css">
    <script src="/static/portal.js" defer></script>
    </head>
    <body{{#user}} data-role="{{role}}"{{/user}}{{#events}} data-events="/events"{{/events}}>
    <a class="skip" href="#main">Skip to content</a>
    <header class="top">
    <a class="brand" href="/">leuknode</a>
    {{#user}}
    <nav aria-label="Main"><ul>{{#nav}}<li><a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a></li>{{/nav}}</ul></nav>
    <form method="post" action="/signout" class="signout">
    <input type="hidden" name="csrf" value="{{csrf}}">
    <span class="who">{{name}} ({{role}})</span> <button type="submit">Sign out</button>
    </form>
    {{/user}}
    </header>
    <main id="main">
    <p id="live" class="notice" role="status" aria-live="polite" hidden></p>
    {{#flash}}<p class="notice" role="status">{{flash}}</p>{{/flash}}
    {{#error}}<p class="error" role="alert" id="form-error">{{error}}</p>{{/error}}
    {{{content}}}
    </main>
    <footer class="muted">Times are shown in your browser's time zone (in UTC where scripts are off).</footer>
    </body>
    </html>
    """#

    static let signin = #"""
    <h1>Sign in</h1>
    {{#ended}}<p class="notice" role="status">{{ended}}</p>{{/ended}}
    <form method="post" action="/signin" class="card narrow">
    \#(csrfField)
    <label for="name">User name</label>
    <input id="name" name="name" value="{{name}}" autocomplete="username" required maxlength="64" autofocus>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
    <button type="submit">Sign in</button>
    </form>
    <p class="muted">After {{lockout}} wrong passwords in a row the account locks for a while; a session ends after {{idle}} minutes without activity.</p>
    """#

    static let problem = #"""
    <h1>{{heading}}</h1>
    <p>{{message}}</p>
    <p><a href="/">Back to the start page</a></p>
    """#

    static let appointments = #"""
    <h1>Appointments</h1>
    <section aria-labelledby="upcoming-h">
    <h2 id="upcoming-h">Upcoming</h2>
    <ul class="cards" id="appointments">
    {{#upcoming}}
    <li class="card"><a href="/appointments/{{id}}"><time datetime="{{start.iso}}" data-appointment-start="{{id}}">{{start.utc}}</time></a>
    with {{other}} · <span class="state" data-appointment-state="{{id}}">{{state}}</span><br><span class="muted">{{reason}}</span></li>
    {{/upcoming}}
    </ul>
    {{^upcoming}}<p id="no-upcoming">No upcoming appointments.</p>{{/upcoming}}
    </section>
    {{#is_patient}}
    <section aria-labelledby="book-h">
    <h2 id="book-h">Book a free slot</h2>
    {{#has_slots}}
    <form method="post" action="/appointments" class="card">
    \#(csrfField)
    <label for="slot">Free slot</label>
    <select id="slot" name="slot" required>
    {{#slots}}<option value="{{id}}" data-datetime="{{start.iso}}" data-suffix="{{suffix}}"{{#selected}} selected{{/selected}}>{{start.utc}}{{suffix}}</option>{{/slots}}
    </select>
    <label for="reason">Reason (optional)</label>
    <input id="reason" name="reason" value="{{reason}}" maxlength="4000">
    <button type="submit">Book</button>
    </form>
    {{/has_slots}}
    {{^has_slots}}<p>No doctor has a free slot at the moment.</p>{{/has_slots}}
    </section>
    {{/is_patient}}
    {{#has_past}}
    <section aria-labelledby="past-h">
    <h2 id="past-h">Past and cancelled</h2>
    <ul class="cards">
    {{#past}}<li class="card"><a href="/appointments/{{id}}"><time datetime="{{start.iso}}">{{start.utc}}</time></a> with {{other}} · <span class="state" data-appointment-state="{{id}}">{{state}}</span></li>{{/past}}
    </ul>
    </section>
    {{/has_past}}
    """#

    static let appointment = #"""
    <h1>Appointment</h1>
    <dl class="facts">
    <dt>When</dt><dd><time datetime="{{start.iso}}" data-appointment-start="{{id}}">{{start.utc}}</time> to <time datetime="{{end.iso}}" data-appointment-end="{{id}}">{{end.utc}}</time></dd>
    <dt>State</dt><dd><span class="state" data-appointment-state="{{id}}">{{state}}</span></dd>
    <dt>Doctor</dt><dd>{{doctor_name}}</dd>
    <dt>Patient</dt><dd>{{patient_name}}</dd>
    <dt>Reason</dt><dd>{{reason}}</dd>
    {{#deadline}}<dt>Follow-up due by</dt><dd><time datetime="{{iso}}">{{utc}}</time></dd>{{/deadline}}
    </dl>
    <div class="actions">
    {{#can_confirm}}<form method="post" action="/appointments/{{id}}/confirm">\#(csrfField)<button type="submit">Confirm</button></form>{{/can_confirm}}
    {{#can_complete}}<form method="post" action="/appointments/{{id}}/complete">\#(csrfField)<button type="submit">Mark as held</button></form>{{/can_complete}}
    </div>
    {{#can_change}}
    <details class="card"{{#open_change}} open{{/open_change}}>
    <summary>Reschedule or cancel</summary>
    {{#has_slots}}
    <form method="post" action="/appointments/{{id}}/reschedule">
    \#(csrfField)
    <label for="to-slot">Move to another free slot of {{doctor_name}}</label>
    <select id="to-slot" name="slot" required>
    {{#slots}}<option value="{{id}}" data-datetime="{{start.iso}}" data-suffix="{{suffix}}"{{#selected}} selected{{/selected}}>{{start.utc}}{{suffix}}</option>{{/slots}}
    </select>
    <button type="submit">Reschedule</button>
    </form>
    {{/has_slots}}
    {{^has_slots}}<p>{{doctor_name}} has no other free slot to move to.</p>{{/has_slots}}
    <form method="post" action="/appointments/{{id}}/cancel">
    \#(csrfField)
    <label for="cancel-reason">Why cancel (optional)</label>
    <input id="cancel-reason" name="reason" value="{{cancel_reason}}" maxlength="4000">
    <button type="submit" class="danger">Cancel the appointment</button>
    </form>
    </details>
    {{/can_change}}
    <section aria-labelledby="thread-h">
    <h2 id="thread-h">Messages</h2>
    <ol class="thread" id="thread" data-appointment="{{id}}">
    {{#messages}}<li id="m-{{id}}"><strong>{{sender_name}}</strong> <time datetime="{{sent.iso}}">{{sent.utc}}</time><p>{{body}}</p></li>{{/messages}}
    </ol>
    {{^messages}}<p class="muted" id="no-messages">No messages yet.</p>{{/messages}}
    <form method="post" action="/appointments/{{id}}/messages" class="card">
    \#(csrfField)
    <label for="body">Message to {{counterpart}}</label>
    <textarea id="body" name="body" rows="3" maxlength="4000" required>{{draft}}</textarea>
    <button type="submit">Send</button>
    </form>
    </section>
    """#

    static let results = #"""
    <h1>Results</h1>
    {{#results}}
    <article class="card">
    <h2>Result of <time datetime="{{created.iso}}">{{created.utc}}</time></h2>
    <dl class="facts">
    <dt>Prediction</dt><dd>{{predicted}}</dd>
    <dt>Doctor's note</dt><dd>{{#note}}{{note}}{{/note}}{{^note}}<span class="muted">none</span>{{/note}}</dd>
    <dt>Doctor</dt><dd>{{doctor_name}}</dd>
    <dt>Model</dt><dd>version {{model_version}}</dd>
    <dt>Released</dt><dd>{{#released}}<time datetime="{{iso}}">{{utc}}</time>{{/released}}</dd>
    </dl>
    </article>
    {{/results}}
    {{^results}}<p>No results have been released to you yet. Your doctor releases each result after reviewing it.</p>{{/results}}
    """#

    static let queue = #"""
    <h1>Review queue</h1>
    <p class="muted">Diagnoses of your patients that are not released yet, oldest first.</p>
    <ul class="cards">
    {{#pending}}<li class="card"><a href="/diagnoses/{{id}}">{{patient_name}}: {{predicted}}</a> (P({{positive}}) {{positive_probability}}, {{follow_up}} follow-up) · {{review_state}} · <time datetime="{{created.iso}}">{{created.utc}}</time></li>{{/pending}}
    </ul>
    {{^pending}}<p>Nothing to review.</p>{{/pending}}
    {{#has_released}}
    <h2>Released</h2>
    <ul class="cards">{{#released}}<li class="card"><a href="/diagnoses/{{id}}">{{patient_name}}: {{predicted}}</a> · <time datetime="{{created.iso}}">{{created.utc}}</time></li>{{/released}}</ul>
    {{/has_released}}
    """#

    static let diagnosis = #"""
    <h1>Diagnosis for {{patient_name}}</h1>
    {{#show_image}}<figure class="cell"><img src="/diagnoses/{{id}}/image" alt="The submitted cell image, {{file_name}}"><figcaption>{{file_name}}, {{image_bytes}} bytes, SHA-256 <code>{{image_sha256}}</code></figcaption></figure>{{/show_image}}
    <table class="probabilities">
    <caption>Every class probability</caption>
    <thead><tr><th scope="col">Class</th><th scope="col">Probability</th></tr></thead>
    <tbody>{{#probabilities}}<tr><td>{{label}}</td><td>{{value}}</td></tr>{{/probabilities}}</tbody>
    </table>
    <dl class="facts">
    <dt>Prediction</dt><dd>{{predicted}}</dd>
    <dt>Follow-up</dt><dd>{{follow_up}}{{#appointment_id}} (<a href="/appointments/{{appointment_id}}">appointment</a>){{/appointment_id}}</dd>
    <dt>State</dt><dd>{{review_state}}</dd>
    <dt>Submitted</dt><dd><time datetime="{{created.iso}}">{{created.utc}}</time> by {{doctor_name}}</dd>
    <dt>Model</dt><dd>version {{model_version}}, SHA-256 <code>{{model_sha256}}</code>, answered in {{response_ms}} ms</dd>
    {{#note}}<dt>Note</dt><dd>{{note}}</dd>{{/note}}
    </dl>
    <section aria-labelledby="lineage-h">
    <h2 id="lineage-h">Model lineage</h2>
    {{#lineage}}
    <dl class="facts">
    <dt>Round</dt><dd>{{round}}</dd>
    <dt>Architecture</dt><dd>{{architecture}}</dd>
    <dt>Stored</dt><dd><time datetime="{{created.iso}}">{{created.utc}}</time></dd>
    <dt>Contributions</dt><dd><ul>{{#contributors}}<li>node <code>{{author}}</code>, its version {{version}}</li>{{/contributors}}</ul></dd>
    </dl>
    {{/lineage}}
    {{#decision}}
    <dl class="facts">
    <dt>Served since</dt><dd><time datetime="{{time.iso}}">{{time.utc}}</time>: {{action}}{{#before}} (replacing version {{before}}){{/before}}</dd>
    {{#reasons}}<dt>Why</dt><dd>{{reasons}}</dd>{{/reasons}}
    </dl>
    {{/decision}}
    {{#lineage_note}}<p class="muted">{{lineage_note}}</p>{{/lineage_note}}
    </section>
    {{#can_release}}
    <form method="post" action="/diagnoses/{{id}}/release" class="card">
    \#(csrfField)
    <label for="note">Note for the patient</label>
    <textarea id="note" name="note" rows="4" maxlength="4000">{{draft_note}}</textarea>
    <div class="actions">
    <button type="submit" name="action" value="review" formaction="/diagnoses/{{id}}/review">Save the note (reviewed, not released)</button>
    <button type="submit" name="action" value="release">Release to the patient</button>
    </div>
    </form>
    {{/can_release}}
    {{#released}}<p>Released to the patient on <time datetime="{{iso}}">{{utc}}</time>.</p>{{/released}}
    """#

    static let diagnose = #"""
    <h1>Diagnose a cell image</h1>
    {{#warning}}<p class="notice" role="status">{{warning}}</p>{{/warning}}
    <form method="post" action="/diagnose" enctype="multipart/form-data" class="card">
    \#(csrfField)
    <label for="patient">Patient (user name)</label>
    <input id="patient" name="patient" value="{{patient}}" required maxlength="64" list="patients" autocomplete="off">
    <datalist id="patients">{{#patients}}<option value="{{name}}"></option>{{/patients}}</datalist>
    <label for="image">Cell image (PNG, JPEG, BMP or TIFF)</label>
    <input id="image" name="image" type="file" accept="image/*,.tif,.tiff,.bmp"{{^kept_name}} required{{/kept_name}}>
    {{#kept_name}}<input type="hidden" name="kept_image" value="{{kept_image}}"><input type="hidden" name="kept_name" value="{{kept_name}}">
    <p class="muted">The image you sent ({{kept_name}}) is kept with this form: choose a file only to replace it.</p>{{/kept_name}}
    <button type="submit">Diagnose</button>
    </form>
    """#

    static let slots = #"""
    <h1>My slots</h1>
    <ul class="cards">
    {{#slots}}<li class="card"><time datetime="{{start.iso}}">{{start.utc}}</time> to <time datetime="{{end.iso}}">{{end.utc}}</time> · {{#booked}}booked{{/booked}}{{^booked}}free
    <form method="post" action="/slots/{{id}}/remove" class="inline">\#(csrfField)<button type="submit" class="danger" aria-label="Remove the slot of {{start.utc}}">Remove</button></form>{{/booked}}</li>{{/slots}}
    </ul>
    {{^slots}}<p>No upcoming slots.</p>{{/slots}}
    <h2 id="add-h">Add a slot</h2>
    <form method="post" action="/slots" class="card" data-local-times>
    \#(csrfField)
    <input type="hidden" name="start_utc" value="">
    <label for="start">Start (your time zone; UTC where scripts are off)</label>
    <input id="start" name="start" type="datetime-local" value="{{start}}" required>
    <label for="minutes">Length in minutes</label>
    <input id="minutes" name="minutes" type="number" min="5" max="480" step="5" value="{{minutes}}" required>
    <button type="submit">Add the slot</button>
    </form>
    """#

    static let users = #"""
    <h1>Users</h1>
    <table class="users">
    <caption>Everyone with an account on this node</caption>
    <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
    <tbody>
    {{#users}}<tr><td>{{name}}</td><td>{{role}}</td><td><time datetime="{{created.iso}}">{{created.utc}}</time></td>
    <td>{{#disabled}}disabled{{/disabled}}{{^disabled}}{{#locked}}locked until <time datetime="{{iso}}">{{utc}}</time>{{/locked}}{{^locked}}active{{/locked}}{{/disabled}}</td>
    <td class="actions"><form method="post" action="/admin/users/{{id}}/revoke">\#(csrfField)<button type="submit" aria-label="Revoke every session of {{name}}">Revoke sessions</button></form>
    {{^self}}{{#disabled}}<form method="post" action="/admin/users/{{id}}/enable">\#(csrfField)<button type="submit" aria-label="Enable {{name}}">Enable</button></form>{{/disabled}}
    {{^disabled}}<form method="post" action="/admin/users/{{id}}/disable">\#(csrfField)<button type="submit" class="danger" aria-label="Disable {{name}}">Disable</button></form>{{/disabled}}{{/self}}</td></tr>{{/users}}
    </tbody>
    </table>
    <h2>Add a user</h2>
    <form method="post" action="/admin/users" class="card">
    \#(csrfField)
    <label for="new-name">User name</label>
    <input id="new-name" name="name" value="{{new_name}}" required maxlength="64" autocomplete="off">
    <label for="new-role">Role</label>
    <select id="new-role" name="role">{{#roles}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/roles}}</select>
    <label for="new-password">Initial password (at least {{min_password}} characters)</label>
    <input id="new-password" name="password" type="password" required minlength="{{min_password}}" maxlength="1024" autocomplete="new-password">
    <button type="submit">Add the user</button>
    </form>
    <p><a href="/break-glass">Emergency (break-glass) access to one patient's records</a></p>
    """#

    static let breakGlass = #"""
    <h1>Emergency access (break-glass)</h1>
    <p>For an emergency only: you may read one patient's diagnoses and appointments for {{minutes}} minutes. The grant and every read are in the audit log with your reason.</p>
    <form method="post" action="/break-glass" class="card">
    \#(csrfField)
    <label for="bg-patient">Patient (user name)</label>
    <input id="bg-patient" name="patient" value="{{patient}}" required maxlength="64" autocomplete="off">
    <label for="bg-reason">Reason (10 to 1000 characters)</label>
    <textarea id="bg-reason" name="reason" rows="3" required minlength="10" maxlength="1000">{{reason}}</textarea>
    <button type="submit" class="danger">Open emergency access</button>
    </form>
    {{#grant}}
    <section class="card" aria-labelledby="grant-h">
    <h2 id="grant-h">Access to {{patient_name}} until <time datetime="{{until.iso}}">{{until.utc}}</time></h2>
    <h3>Diagnoses</h3>
    <ul>{{#diagnoses}}<li><time datetime="{{created.iso}}">{{created.utc}}</time>: {{predicted}} ({{review_state}}){{#note}}, note: {{note}}{{/note}}</li>{{/diagnoses}}</ul>
    {{^diagnoses}}<p>None.</p>{{/diagnoses}}
    <h3>Appointments</h3>
    <ul>{{#appointments}}<li><time datetime="{{start.iso}}">{{start.utc}}</time> with {{doctor_name}}: {{state}}</li>{{/appointments}}</ul>
    {{^appointments}}<p>None.</p>{{/appointments}}
    </section>
    {{/grant}}
    """#
}
