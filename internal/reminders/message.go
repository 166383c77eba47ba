package reminders

import (
	"fmt"
	"strings"
	"time"
)

// due is a claimed reminder with what its messages say.
type due struct {
	AppointmentID int64
	Offset        int
	Attempt       int
	EmailDone     bool
	WhatsAppDone  bool
	Start         time.Time
	ClientName    string
	Phone         string
	Email         string
	BranchName    string
	BranchAddress string
	BranchPhone   string
	TimeZone      string
	Service       string
	Staff         string
}

var (
	weekdaysES = [...]string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"}
	monthsES   = [...]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"}
)

// localStart returns the appointment's start in its branch's time zone (UTC if the zone is
// unknown) and the zone's name.
func (d due) localStart() (time.Time, string) {
	loc, err := time.LoadLocation(d.TimeZone)
	if err != nil || d.TimeZone == "" {
		return d.Start.UTC(), "UTC"
	}
	return d.Start.In(loc), d.TimeZone
}

// when says the appointment's local day and time in lang, e.g. "lunes 7 de diciembre de 2026, 10:30".
func (d due) when(lang string) string {
	t, _ := d.localStart()
	if lang == "en" {
		return t.Format("Monday, January 2, 2006, 15:04")
	}
	return fmt.Sprintf("%s %d de %s de %d, %s", weekdaysES[t.Weekday()], t.Day(), monthsES[t.Month()-1], t.Year(), t.Format("15:04"))
}

// place is the branch's name and address.
func (d due) place() string {
	if d.BranchAddress == "" {
		return d.BranchName
	}
	return d.BranchName + ", " + d.BranchAddress
}

// emailText returns the reminder e-mail's subject and body in lang ("es" or "en"), in the
// organization's name.
func emailText(lang, org string, d due) (subject, body string) {
	_, zone := d.localStart()
	var b strings.Builder
	if lang == "en" {
		subject = "Reminder: your appointment at " + org
		fmt.Fprintf(&b, "Hello %s,\n\nThis is a reminder of your appointment", d.ClientName)
		if d.Service != "" {
			fmt.Fprintf(&b, " for %s", d.Service)
		}
		if d.Staff != "" {
			fmt.Fprintf(&b, " with %s", d.Staff)
		}
		fmt.Fprintf(&b, " on %s (%s time).\n\nWhere: %s.\n", d.when(lang), zone, d.place())
		if d.BranchPhone != "" {
			fmt.Fprintf(&b, "If you cannot come, please call %s.\n", d.BranchPhone)
		}
		fmt.Fprintf(&b, "\n%s\n", org)
		return subject, b.String()
	}
	subject = "Recordatorio de tu cita en " + org
	fmt.Fprintf(&b, "Hola %s:\n\nTe recordamos tu cita", d.ClientName)
	if d.Service != "" {
		fmt.Fprintf(&b, " de %s", d.Service)
	}
	if d.Staff != "" {
		fmt.Fprintf(&b, " con %s", d.Staff)
	}
	fmt.Fprintf(&b, " el %s (hora de %s).\n\nLugar: %s.\n", d.when(lang), zone, d.place())
	if d.BranchPhone != "" {
		fmt.Fprintf(&b, "Si no puedes asistir, llama al %s.\n", d.BranchPhone)
	}
	fmt.Fprintf(&b, "\n%s\n", org)
	return subject, b.String()
}

// whatsAppParams fill the template's body: {{1}} the client's name, {{2}} the organization,
// {{3}} the local day and time, {{4}} the branch and its address.
func whatsAppParams(lang, org string, d due) []string {
	return []string{d.ClientName, org, d.when(lang), d.place()}
}
