package store

import "time"

// App is a client of Herald. KeyHash is the SHA-256 of its API key.
type App struct {
	ID          string    `bson:"_id"`
	Name        string    `bson:"name"`
	Permissions []string  `bson:"permissions"`
	KeyHash     string    `bson:"keyHash"`
	CreatedAt   time.Time `bson:"createdAt"`
	UpdatedAt   time.Time `bson:"updatedAt"`
	Version     int64     `bson:"version"`
}

// AppConfig makes an app a publisher. Its ID is the app's ID.
type AppConfig struct {
	ID          string    `bson:"_id"`
	Name        string    `bson:"name"`
	Permissions []string  `bson:"permissions"`
	CreatedAt   time.Time `bson:"createdAt"`
	UpdatedAt   time.Time `bson:"updatedAt"`
	Version     int64     `bson:"version"`
}

// Event is a registered publisher event. FilterLogic is the normalized rule as JSON text ("" for
// none): a string keeps the rule's key order and keeps operator keys out of BSON field names.
type Event struct {
	ID          string    `bson:"_id"`
	AppID       string    `bson:"appId"`
	Topic       string    `bson:"topic"`
	Name        string    `bson:"name"`
	Description string    `bson:"description"`
	EventType   string    `bson:"eventType"`
	FilterLogic string    `bson:"filterLogic"`
	Type        string    `bson:"type"`
	GetAPIPath  string    `bson:"getApiPath"`
	CreatedAt   time.Time `bson:"createdAt"`
	UpdatedAt   time.Time `bson:"updatedAt"`
	Version     int64     `bson:"version"`
}

// SubscriptionOptions shape deliveries; see the proto for their meaning.
type SubscriptionOptions struct {
	Payload          string   `bson:"payload"`
	HubSignature     bool     `bson:"hubSignature"`
	VerificationKey  string   `bson:"verificationKey"`
	Ordered          bool     `bson:"ordered"`
	RetrySchedule    []string `bson:"retrySchedule"`
	SkipVerification bool     `bson:"skipVerification"`
}

// Subscription status values.
const (
	StatusActive   = "active"
	StatusPaused   = "paused"
	StatusDisabled = "disabled"
	// StatusUnverified: the endpoint did not pass verification; nothing is delivered until it does.
	StatusUnverified = "unverified"
)

// Subscription sends a subscriber app the events of one publisher app on one topic. Secrets are
// sealed with secretbox; PrevSecret keeps signing until PrevSecretExpiresAt after a rotation.
// StatusChangedAt is when Status was last set (zero before the first change): an attempt made
// before then no longer decides the status.
type Subscription struct {
	ID                  string              `bson:"_id"`
	AppID               string              `bson:"appId"`
	SubscriberAppID     string              `bson:"subscriberAppId"`
	Topic               string              `bson:"topic"`
	Events              []string            `bson:"events"`
	URL                 string              `bson:"url"`
	FilterLogic         string              `bson:"filterLogic"`
	Options             SubscriptionOptions `bson:"options"`
	Status              string              `bson:"status"`
	StatusReason        string              `bson:"statusReason"`
	StatusChangedAt     time.Time           `bson:"statusChangedAt,omitempty"`
	Description         string              `bson:"description"`
	Secret              []byte              `bson:"secret"`
	PrevSecret          []byte              `bson:"prevSecret,omitempty"`
	PrevSecretExpiresAt time.Time           `bson:"prevSecretExpiresAt,omitempty"`
	SecretRotatedAt     time.Time           `bson:"secretRotatedAt"`
	CreatedAt           time.Time           `bson:"createdAt"`
	UpdatedAt           time.Time           `bson:"updatedAt"`
	Version             int64               `bson:"version"`
}
