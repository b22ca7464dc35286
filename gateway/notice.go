package gateway

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/notice"
)

type announcementRequest struct {
	Kind     string     `json:"kind" example:"security_tip" enum:"security_tip,maintenance,notice"`
	Title    string     `json:"title" example:"We never ask for your PIN" doc:"1 to 120 characters."`
	Body     string     `json:"body" example:"No one from the bank will ever ask for your payment PIN." doc:"At most 2000 characters."`
	StartsAt *time.Time `json:"starts_at,omitempty" doc:"When wallets start showing it; now when left out."`
	EndsAt   *time.Time `json:"ends_at,omitempty" doc:"When they stop; never when left out."`
}

type announcementList struct {
	Data []notice.Announcement `json:"data"`
}

type maintenanceRequest struct {
	Message     string     `json:"message" example:"Payments are paused for a database upgrade." doc:"Shown to every client refused meanwhile; 1 to 500 characters."`
	ExpectedEnd *time.Time `json:"expected_end,omitempty" doc:"When it should be over: Retry-After counts down to it, and the announcement ends then."`
}

func (s *Server) noticeRoutes() {
	s.handle(Op{Method: "GET", Path: "/v1/announcements", Tag: "wallet", Summary: "List the operator's current announcements (security tips, maintenance, notices)",
		Response: announcementList{}}, s.activeAnnouncements)
	const tag = "admin"
	s.handle(Op{Method: "POST", Path: "/v1/admin/announcements", Tag: tag, Auth: Operator, Summary: "Publish an announcement to every wallet",
		Request: announcementRequest{}, Response: notice.Announcement{}, Status: http.StatusCreated}, s.announce)
	s.handle(Op{Method: "GET", Path: "/v1/admin/announcements", Tag: tag, Auth: Operator, Summary: "List every announcement, past and future",
		Response: announcementList{}}, s.allAnnouncements)
	s.handle(Op{Method: "DELETE", Path: "/v1/admin/announcements/:id", Tag: tag, Auth: Operator, Summary: "Withdraw an announcement now",
		Response: notice.Announcement{}, Params: []Param{{Name: "id", Doc: "The announcement id."}}, Errors: []errs.Code{errs.NotFound}}, s.withdrawAnnouncement)
	s.handle(Op{Method: "GET", Path: "/v1/admin/maintenance", Tag: tag, Auth: Operator, Summary: "Read the maintenance switch",
		Response: notice.Maintenance{}}, s.getMaintenance)
	s.handle(Op{Method: "PUT", Path: "/v1/admin/maintenance", Tag: tag, Auth: Operator,
		Summary: "Start maintenance: money-moving requests answer 503 maintenance until it stops; reads keep working",
		Request: maintenanceRequest{}, Response: notice.Maintenance{}}, s.startMaintenance)
	s.handle(Op{Method: "DELETE", Path: "/v1/admin/maintenance", Tag: tag, Auth: Operator, Summary: "Stop maintenance",
		Response: notice.Maintenance{}}, s.stopMaintenance)
}

// maintenanceGate refuses a money-moving request while the operator has the
// gateway in maintenance: 503 maintenance, the operator's message, and
// Retry-After until the expected end. The switch is read through the
// replica's cache (MAINTENANCE_CACHE_TTL), never more than once a TTL.
func (s *Server) maintenanceGate(c *fiber.Ctx) error {
	if s.deps.Notice == nil {
		return c.Next()
	}
	m := s.deps.Notice.CurrentMaintenance(c.UserContext())
	if !m.Active {
		return c.Next()
	}
	retry := 30 * time.Second
	if m.ExpectedEnd != nil {
		retry = min(max(m.ExpectedEnd.Sub(s.now()), time.Second), time.Hour)
	}
	return &errs.Error{Code: errs.Maintenance, Message: m.Message, RetryAfter: retry}
}

func (s *Server) activeAnnouncements(c *fiber.Ctx) error {
	list, err := s.deps.Notice.Active(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(announcementList{Data: list})
}

func (s *Server) allAnnouncements(c *fiber.Ctx) error {
	list, err := s.deps.Notice.All(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(announcementList{Data: list})
}

func (s *Server) announce(c *fiber.Ctx) error {
	var req announcementRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	in := notice.AnnouncementInput{Kind: req.Kind, Title: req.Title, Body: req.Body, EndsAt: req.EndsAt}
	if req.StartsAt != nil {
		in.StartsAt = *req.StartsAt
	}
	a, err := s.deps.Notice.Announce(c.UserContext(), in)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(a)
}

func (s *Server) withdrawAnnouncement(c *fiber.Ctx) error {
	a, err := s.deps.Notice.Withdraw(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(a)
}

func (s *Server) getMaintenance(c *fiber.Ctx) error {
	m, err := s.deps.Notice.ReadMaintenance(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (s *Server) startMaintenance(c *fiber.Ctx) error {
	var req maintenanceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	m, err := s.deps.Notice.StartMaintenance(c.UserContext(), req.Message, req.ExpectedEnd)
	if err != nil {
		return err
	}
	return c.JSON(m)
}

func (s *Server) stopMaintenance(c *fiber.Ctx) error {
	m, err := s.deps.Notice.StopMaintenance(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(m)
}
