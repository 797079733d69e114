package sfu

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggerFactory routes Pion's internal logs into slog, so operators get one structured stream.
// Pion's Info is chatty (every candidate pair); it is logged at Debug.
type pionLoggerFactory struct{ log *slog.Logger }

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) Trace(string)          {}
func (l pionLogger) Tracef(string, ...any) {}
func (l pionLogger) Debug(msg string)      { l.log.Debug(msg) }
func (l pionLogger) Debugf(f string, a ...any) {
	// Format only when someone reads it: Pion logs per candidate pair.
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(f, a...))
	}
}
func (l pionLogger) Info(msg string)          { l.log.Debug(msg) }
func (l pionLogger) Infof(f string, a ...any) { l.Debugf(f, a...) }
func (l pionLogger) Warn(msg string)          { l.log.Warn(msg) }
func (l pionLogger) Warnf(f string, a ...any) { l.log.Warn(fmt.Sprintf(f, a...)) }
func (l pionLogger) Error(msg string)         { l.log.Error(msg) }
func (l pionLogger) Errorf(f string, a ...any) {
	l.log.Error(fmt.Sprintf(f, a...))
}
