package turnserver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggerFactory routes Pion's TURN logs into slog (as the sfu package does for WebRTC). Pion's
// Info and Warn are per-packet chatter here (a stray datagram, a client's retransmit), so they are
// logged at Debug; errors stay errors.
type pionLoggerFactory struct{ log *slog.Logger }

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) Trace(string)          {}
func (l pionLogger) Tracef(string, ...any) {}
func (l pionLogger) Debug(msg string)      { l.log.Debug(msg) }
func (l pionLogger) Debugf(f string, a ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(f, a...))
	}
}
func (l pionLogger) Info(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Infof(f string, a ...any)  { l.Debugf(f, a...) }
func (l pionLogger) Warn(msg string)           { l.log.Debug(msg) }
func (l pionLogger) Warnf(f string, a ...any)  { l.Debugf(f, a...) }
func (l pionLogger) Error(msg string)          { l.log.Error(msg) }
func (l pionLogger) Errorf(f string, a ...any) { l.log.Error(fmt.Sprintf(f, a...)) }
