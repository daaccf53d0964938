//! Prefixed text ids (`cus_…`, `inv_…`): readable in logs, in SQL and on the phone.
//!
//! An id is its prefix, an underscore and 1–64 ASCII letters or digits. Parsing checks the
//! prefix, so a price id can never be passed where a customer id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string is not an id of the wanted kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind} id (expected {prefix}_ followed by letters and digits)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

macro_rules! ids {
    ($($name:ident => $prefix:literal, $kind:literal;)*) => {$(
        #[doc = concat!("Id of a ", $kind, " (`", $prefix, "_…`).")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Parses and checks the prefix and characters.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let ok = s
                    .strip_prefix($prefix)
                    .and_then(|r| r.strip_prefix('_'))
                    .is_some_and(|r| !r.is_empty() && r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric()));
                if ok {
                    Ok($name(s.to_string()))
                } else {
                    Err(IdError { kind: $kind, prefix: $prefix, value: s.to_string() })
                }
            }

            /// Builds an id from a random or sequential suffix of letters and digits.
            pub fn from_suffix(suffix: &str) -> Result<Self, IdError> {
                Self::parse(&format!("{}_{}", $prefix, suffix))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    )*};
}

ids! {
    OrgId => "org", "organisation";
    ApiKeyId => "key", "API key";
    CustomerId => "cus", "customer";
    ContactId => "cont", "contact";
    ProductId => "prod", "product";
    PriceId => "price", "price";
    CouponId => "coup", "coupon";
    DiscountId => "di", "discount";
    TaxRateId => "txr", "tax rate";
    SubscriptionId => "sub", "subscription";
    SubscriptionItemId => "si", "subscription item";
    InvoiceId => "inv", "invoice";
    InvoiceLineId => "il", "invoice line";
    CreditNoteId => "cn", "credit note";
    CreditNoteLineId => "cnl", "credit note line";
    LedgerTransactionId => "ltx", "ledger transaction";
    LedgerAccountId => "lacc", "ledger account";
    BillRunId => "br", "bill run";
    JobId => "job", "job";
    DueChangeId => "due", "due-date change";
    PaymentMethodId => "pm", "payment method";
    PaymentId => "pay", "payment";
    RefundId => "re", "refund";
    EventId => "evt", "event";
    NotificationId => "ntf", "notification";
    WebhookEndpointId => "we", "webhook endpoint";
    WebhookDeliveryId => "whd", "webhook delivery";
    TestClockId => "clock", "test clock";
    StaffId => "stf", "staff user";
    StaffSessionId => "sess", "staff session";
    TicketId => "tkt", "ticket";
    StatusChangeId => "tsc", "ticket status change";
    InteractionId => "int", "interaction";
    AttachmentId => "att", "attachment";
    CalendarId => "cal", "business calendar";
    SlaPolicyId => "sla", "SLA policy";
    VerificationId => "idv", "identity verification";
    IdentityFailureId => "idf", "identity failure";
    TicketActionId => "tka", "ticket action";
    SurveyId => "csat", "CSAT survey";
    MacroId => "mac", "macro";
    PortalUserId => "pu", "portal user";
    PortalSessionId => "pts", "portal session";
    SignInLinkId => "psl", "portal sign-in link";
    ChatId => "chat", "chat session";
}
