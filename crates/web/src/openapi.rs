//! The OpenAPI document, generated from the handlers' annotations and the types' schemas.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Ledgerdesk API", version = "1", description = "Billing and the service desk that answers for it. Amounts are integers in the currency's minor unit."),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    paths(
        crate::routes::create_customer, crate::routes::list_customers, crate::routes::get_customer, crate::routes::update_customer,
        crate::routes::add_contact, crate::routes::create_discount, crate::routes::customer_balance,
        crate::routes::create_product, crate::routes::list_products, crate::routes::get_product, crate::routes::update_product,
        crate::routes::create_price, crate::routes::list_prices, crate::routes::get_price, crate::routes::update_price, crate::routes::delete_price,
        crate::routes::create_tax_rate, crate::routes::list_tax_rates, crate::routes::create_coupon, crate::routes::list_coupons, crate::routes::get_coupon,
        crate::routes::create_subscription, crate::routes::list_subscriptions, crate::routes::get_subscription, crate::routes::change_subscription,
        crate::routes::preview_subscription_change, crate::routes::cancel_subscription, crate::routes::resume_subscription,
        crate::routes::get_retention_offer, crate::routes::set_retention_offer, crate::routes::remove_retention_offer,
        crate::routes::create_invoice, crate::routes::list_invoices, crate::routes::get_invoice, crate::routes::invoice_pdf, crate::routes::delete_invoice, crate::routes::add_invoice_lines,
        crate::routes::finalize_invoice, crate::routes::void_invoice, crate::routes::mark_uncollectible,
        crate::routes::create_credit_note, crate::routes::list_credit_notes, crate::routes::get_credit_note, crate::routes::credit_note_pdf,
        crate::routes::list_ledger_entries, crate::routes::create_bill_run,
        crate::payments::attach_payment_method, crate::payments::list_payment_methods, crate::payments::default_payment_method,
        crate::payments::detach_payment_method, crate::payments::pay_invoice, crate::payments::create_payment,
        crate::payments::retry_payment, crate::payments::get_payment, crate::payments::list_payments,
        crate::payments::create_refund, crate::payments::retry_refund, crate::payments::get_refund, crate::payments::list_refunds,
        crate::payments::ar_aging, crate::payments::extend_due_date, crate::payments::create_payment_plan, crate::payments::get_payment_plan,
        crate::jobs::list_jobs, crate::jobs::get_job, crate::jobs::retry_job, crate::jobs::get_dunning, crate::jobs::set_dunning,
        crate::events::list_events, crate::events::get_event, crate::events::timeline, crate::events::list_notifications,
        crate::events::get_notification, crate::events::create_endpoint, crate::events::list_endpoints, crate::events::get_endpoint,
        crate::events::update_endpoint, crate::events::list_deliveries, crate::events::get_delivery, crate::events::replay_delivery,
        crate::events::get_reminders, crate::events::set_reminders,
        crate::events::create_clock, crate::events::list_clocks, crate::events::get_clock, crate::events::advance_clock,
        crate::desk::create_staff, crate::desk::list_staff, crate::desk::update_staff, crate::desk::login, crate::desk::logout,
        crate::desk::create_ticket, crate::desk::list_tickets, crate::desk::get_ticket, crate::desk::update_ticket,
        crate::desk::reply, crate::desk::note, crate::desk::merge, crate::desk::attachment, crate::desk::inbound_email,
        crate::desk::save_macro, crate::desk::list_macros, crate::desk::create_calendar, crate::desk::save_policy,
        crate::desk::list_policies, crate::desk::audit_log,
        crate::desk_actions::take_action, crate::desk_actions::list_actions, crate::desk_actions::list_approvals,
        crate::desk_actions::approve, crate::desk_actions::reject, crate::desk_actions::get_limits, crate::desk_actions::set_limits,
        crate::desk_actions::start_verification, crate::desk_actions::confirm_verification, crate::desk_actions::payment_details,
        crate::desk_actions::log_call, crate::desk_actions::end_call, crate::desk_actions::telephony_event,
        crate::desk_kpi::kpis, crate::desk_kpi::kpis_csv, crate::desk_kpi::answer_csat,
        crate::chat::create_portal_user, crate::chat::list_portal_users, crate::chat::portal_login, crate::chat::portal_me,
        crate::chat::customer_chat, crate::chat::agent_chat,
    ),
    tags((name = "customers"), (name = "catalog"), (name = "subscriptions"), (name = "invoices"), (name = "ledger"), (name = "payments"), (name = "jobs"), (name = "events"), (name = "webhooks"), (name = "test_clocks"), (name = "desk"))
)]
pub struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
