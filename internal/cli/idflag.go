package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// idFlag is the value of an id flag such as --organization_id: a positive integer. Its parse
// errors say what is wrong in Spanish (not strconv's text).
type idFlag struct {
	name string
	id   *int64
}

// idVar defines an id flag on cmd, stored in p.
func idVar(cmd *cobra.Command, p *int64, name, usage string) {
	cmd.Flags().Var(idFlag{name: name, id: p}, name, usage)
}

// String returns the id ("0" when unset).
func (f idFlag) String() string {
	if f.id == nil {
		return "0"
	}
	return strconv.FormatInt(*f.id, 10)
}

// Set parses a positive integer.
func (f idFlag) Set(s string) error {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	switch {
	case err != nil || id < 0:
		return flagValueError(fmt.Sprintf("--%s debe ser un número entero positivo (por ejemplo --%s=1), no %q", f.name, f.name, s))
	case id == 0:
		return flagValueError(fmt.Sprintf("--%s=0 no es un id válido: los ids empiezan en 1", f.name))
	}
	*f.id = id
	return nil
}

// Type names the value in --help.
func (idFlag) Type() string { return "id" }

// flagValueError is a flag value's complete message: the flag error handler prints it alone,
// without pflag's English wrapping.
type flagValueError string

func (e flagValueError) Error() string { return string(e) }
