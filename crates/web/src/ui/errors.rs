//! How an `app` refusal reads on a page, in the page's language.
//!
//! English pages show the app's own message (written in English for the API, with the ids
//! and amounts involved), as before. Russian pages show a Russian sentence chosen by the
//! error's kind: `State` and `Gateway` by their stable `code` ([`RU_CODES`]), `NotFound`
//! as "not found: <what> <id>", `Forbidden` as "your role does not allow this", `Invalid`
//! as a sentence naming the form's field and quoting the app's detail (free text, which has
//! no translation). A code missing from the table falls back to the English message.
//! Failures on our side never show their detail in either language.

use super::i18n::{Lang, Tr};
use app::AppError;

/// How `e` reads on a page in `lang`.
pub(crate) fn error_text(e: &AppError, lang: Lang) -> String {
    let t = lang.t();
    match (e, lang) {
        (AppError::Internal(_) | AppError::Store(_), _) => t.error_our_side.to_string(),
        (_, Lang::En) => e.to_string(),
        (AppError::State { code, .. } | AppError::Gateway { code, .. }, Lang::Ru) => {
            ru_code(code).map_or_else(|| e.to_string(), str::to_string)
        }
        (AppError::NotFound { resource, id }, Lang::Ru) => {
            format!("Не найдено: {} {id}.", ru_resource(resource))
        }
        (AppError::Forbidden(_), Lang::Ru) => "Ваша роль не позволяет это сделать.".into(),
        (AppError::Unauthenticated(_), Lang::Ru) => {
            "Не удалось подтвердить, кто вы: войдите снова.".into()
        }
        (
            AppError::Invalid {
                param,
                message,
                code,
            },
            Lang::Ru,
        ) => {
            let field = super::form_field(param);
            let field = field_label(&field, t);
            if *code == "parameter_missing" {
                format!("Заполните поле «{field}».")
            } else {
                format!("Проверьте поле «{field}»: {message}")
            }
        }
    }
}

/// The Russian sentence of an `AppError::State` / `AppError::Gateway` code.
fn ru_code(code: &str) -> Option<&'static str> {
    RU_CODES.iter().find(|(c, _)| *c == code).map(|(_, ru)| *ru)
}

/// Every `State` and `Gateway` code `app` uses, with its Russian sentence (a unit test
/// checks the list against `crates/app/src`).
const RU_CODES: &[(&str, &str)] = &[
    ("action_in_progress", "Это действие уже выполняется."),
    ("action_not_pending", "Этот запрос уже рассмотрен."),
    ("already_invoiced", "Счёт за этот период подписки уже выставлен."),
    ("chat_ended", "Чат уже завершён."),
    ("chat_not_active", "Этот чат сейчас не идёт."),
    ("chat_not_waiting", "Этот чат уже не ожидает: его принял другой оператор или он изменился."),
    ("chat_not_yours", "Этот чат принял другой оператор."),
    ("contact_in_use", "Этот контакт входит в портал: сначала удалите его вход."),
    ("credit_already_used", "Кредит, который этот счёт зачислил на баланс, уже использован."),
    ("currency_mismatch", "Клиент платит в другой валюте."),
    ("customer_charged_automatically", "С этого клиента оплата списывается автоматически: переведите его на оплату по счёту, прежде чем согласовывать план платежей."),
    ("customer_mismatch", "Нельзя объединить обращения разных клиентов."),
    ("gateway_mismatch", "Этот способ оплаты принадлежит другому платёжному шлюзу."),
    ("gateway_timeout", "Платёжный шлюз не ответил вовремя. Ничего не потеряно: попробуйте ещё раз."),
    ("gateway_unavailable", "Платёжный шлюз сейчас недоступен. Ничего не потеряно: попробуйте позже."),
    ("identity_locked", "Слишком много неудачных попыток проверки для этого аккаунта: попробуйте позже."),
    ("identity_not_verified", "Личность не подтверждена: код не совпал, или разговор уже завершён."),
    ("interaction_ended", "Этот разговор уже завершён."),
    ("interaction_without_customer", "Этот разговор ещё не привязан к аккаунту клиента."),
    ("invalid_transition", "Обращение нельзя перевести в этот статус."),
    ("invoice_has_discounts", "На счёте есть скидки: удалите его и создайте заново со всеми строками."),
    ("invoice_has_payment_plan", "Этот счёт оплачивается по плану платежей: согласуйте новый план."),
    ("invoice_not_creditable", "Кредит-нота выставляется только к счёту, ожидающему оплаты, или к оплаченному."),
    ("invoice_not_deletable", "Удалить можно только черновик разового счёта."),
    ("invoice_not_draft", "Счёт уже не черновик, а менять можно только черновики."),
    ("invoice_not_open", "Этот счёт не ожидает оплаты, или по нему ничего не осталось."),
    ("invoice_not_payable", "Этот счёт нельзя оплатить: он не ожидает оплаты или уже оплачен."),
    ("invoice_not_voidable", "Аннулировать можно только неоплаченный счёт без платежей и кредит-нот; выставьте кредит-ноту."),
    ("job_not_failed", "Повторить можно только задание, завершившееся ошибкой."),
    ("last_item", "В подписке остаётся хотя бы один продукт: чтобы отказаться от всего, отмените подписку."),
    ("no_agent_available", "Сейчас нет свободных операторов на линии."),
    ("no_contact_on_file", "У клиента не указан адрес или телефон для отправки кода."),
    ("no_default_payment_method", "У клиента нет основного способа оплаты."),
    ("no_retention_offer", "Предложения, которое можно принять, нет."),
    ("no_survey", "Оценить обращение можно после того, как оно решено."),
    ("not_a_live_contact", "Это не звонок и не чат: проверка личности и завершение относятся к разговору."),
    ("nothing_to_credit", "По этому счёту не осталось суммы для кредит-ноты."),
    ("offer_already_accepted", "Предложение для этой подписки уже принято."),
    ("payment_method_detached", "Этот способ оплаты удалён."),
    ("payment_not_succeeded", "Вернуть можно только прошедший платёж."),
    ("payment_pending", "Платёж по этому счёту ещё обрабатывается платёжным шлюзом: попробуйте позже."),
    ("price_in_use", "Цена уже использовалась: её можно только архивировать."),
    ("refund_exceeds_credit_balance", "Сумма возврата больше кредитного баланса клиента."),
    ("refund_exceeds_payment", "Сумма возврата больше того, что осталось вернуть по платежу."),
    ("refund_exceeds_refundable", "Сумма возврата больше той части платежа, которая доступна для возврата."),
    ("sign_in_link_expired", "Срок действия ссылки для входа истёк."),
    ("sign_in_link_used", "Эта ссылка для входа уже использована."),
    ("subscription_canceled", "Подписка отменена или будет отменена."),
    ("subscription_not_canceling", "Подписка не отменяется в конце периода."),
    ("survey_already_answered", "Оценка уже получена, спасибо."),
    ("ticket_closed", "Обращение закрыто: создайте новое."),
    ("ticket_merged", "Обращение объединено с другим: продолжайте в том обращении."),
    ("ticket_without_customer", "Обращение не привязано к аккаунту клиента."),
    ("verification_expired", "Код истёк или было слишком много попыток: отправьте новый."),
    ("verification_not_pending", "Для этой проверки нет кода, который нужно подтвердить."),
];

/// What a `NotFound` names, in Russian (the resource as is when it is not listed).
fn ru_resource(resource: &str) -> &str {
    match resource {
        "attachment" => "вложение",
        "chat" => "чат",
        "contact" => "контакт",
        "coupon" => "купон",
        "credit_note" => "кредит-нота",
        "csat_survey" => "опрос",
        "customer" => "клиент",
        "event" => "событие",
        "identity_verification" => "проверка личности",
        "interaction" => "сообщение или разговор",
        "invoice" => "счёт",
        "job" => "задание",
        "notification" => "уведомление",
        "organisation" => "организация",
        "payment" => "платёж",
        "payment_method" => "способ оплаты",
        "payment_plan" => "план платежей",
        "price" => "цена",
        "product" => "продукт",
        "refund" => "возврат",
        "staff" | "staff user" => "сотрудник",
        "subscription" => "подписка",
        "subscription_item" => "продукт подписки",
        "tax_id" => "налоговый номер",
        "test_clock" => "тестовые часы",
        "ticket" => "обращение",
        "ticket_action" => "действие по обращению",
        "webhook_delivery" => "доставка вебхука",
        "webhook_endpoint" => "адрес вебхука",
        other => other,
    }
}

/// The label of a form field in the page's language (the field's name when no form has it).
fn field_label<'a>(field: &'a str, t: &'static Tr) -> &'a str {
    match field {
        "name" | "contact_name" => t.name,
        "email" | "contact_email" => t.email,
        "phone" => t.phone,
        "locale" => t.language,
        "line1" => t.address_line1,
        "line2" => t.address_line2,
        "city" => t.city,
        "postal_code" => t.postal_code,
        "region" => t.region,
        "country" => t.country,
        "tax_type" => t.tax_id_type,
        "tax_value" => t.tax_id_value,
        "contact_role" => t.role,
        "token" => t.card_token,
        "amount" => t.amount,
        "quantity" => t.quantity,
        "price" => t.product,
        "currency" => t.currency_label,
        "reason" => t.reason,
        "reason_code" => t.reason_code,
        "due_date" => t.due_date,
        "code" => t.code,
        "subject" => t.subject,
        "body" => t.message,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every `AppError::state("code", …)` and `code: "…"` (State / Gateway) in
    /// `crates/app/src`.
    fn codes_in_app() -> BTreeSet<String> {
        fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let src = std::fs::read_to_string(&path).unwrap();
                    for (i, _) in src.match_indices("AppError::state(") {
                        let rest = src[i + 16..].trim_start();
                        if let Some(lit) = rest.strip_prefix('"') {
                            out.insert(lit[..lit.find('"').unwrap()].to_string());
                        }
                    }
                    for (i, _) in src.match_indices("code: \"") {
                        let before = src[..i].chars().next_back();
                        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                            continue; // reason_code: "…" and the like
                        }
                        let lit = &src[i + 7..];
                        let code = &lit[..lit.find('"').unwrap()];
                        if !code.starts_with("parameter_") {
                            out.insert(code.to_string());
                        }
                    }
                }
            }
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src");
        let mut out = BTreeSet::new();
        walk(&dir, &mut out);
        out
    }

    fn cyrillic(s: &str) -> bool {
        s.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c))
    }

    #[test]
    fn every_code_of_app_has_a_russian_text() {
        let codes = codes_in_app();
        assert!(codes.len() > 40, "the scan found the codes: {codes:?}");
        for code in &codes {
            let english = format!("the English message of {code}");
            for e in [
                AppError::state(code_static(code), english.clone()),
                AppError::Gateway {
                    code: code_static(code),
                    message: english.clone(),
                },
            ] {
                assert_eq!(error_text(&e, Lang::En), english);
                let ru = error_text(&e, Lang::Ru);
                assert_ne!(ru, english, "{code} has no Russian text");
                assert!(cyrillic(&ru), "{code}: {ru}");
            }
        }
        // No stale or repeated entries.
        let listed: Vec<&str> = RU_CODES.iter().map(|(c, _)| *c).collect();
        let unique: BTreeSet<&str> = listed.iter().copied().collect();
        assert_eq!(listed.len(), unique.len(), "a code is listed twice");
        for c in unique {
            assert!(codes.contains(c), "{c} is not a code of app any more");
        }
    }

    fn code_static(code: &str) -> &'static str {
        Box::leak(code.to_string().into_boxed_str())
    }

    #[test]
    fn unknown_codes_and_english_pages_keep_the_app_message() {
        let e = AppError::state("a_code_nobody_uses", "the app's words");
        assert_eq!(error_text(&e, Lang::Ru), "the app's words");
        assert_eq!(error_text(&e, Lang::En), "the app's words");
        let e = AppError::state("invoice_not_open", "invoice inv_1 is paid");
        assert_eq!(error_text(&e, Lang::En), "invoice inv_1 is paid");
    }

    #[test]
    fn other_kinds_read_in_russian() {
        let ru = |e: AppError| error_text(&e, Lang::Ru);
        assert_eq!(
            ru(AppError::not_found("invoice", "inv_1")),
            "Не найдено: счёт inv_1."
        );
        assert_eq!(
            ru(AppError::not_found("gizmo", "g_1")),
            "Не найдено: gizmo g_1."
        );
        assert!(cyrillic(&ru(AppError::Forbidden(
            "the agent role may not".into()
        ))));
        assert!(!ru(AppError::Forbidden("the agent role may not".into())).contains("agent"));
        assert_eq!(
            ru(AppError::invalid("address.country", "not a country code")),
            "Проверьте поле «Страна (две буквы, например RU)»: not a country code"
        );
        assert_eq!(
            ru(AppError::missing("contacts[0].email")),
            "Заполните поле «Эл. почта»."
        );
        assert_eq!(
            ru(AppError::invalid("widgets", "too many")),
            "Проверьте поле «widgets»: too many"
        );
        let ours = AppError::Internal("secret detail".into());
        assert!(!ru(AppError::Internal("secret detail".into())).contains("secret"));
        assert!(!error_text(&ours, Lang::En).contains("secret"));
        assert_eq!(
            error_text(&ours, Lang::En),
            "Something went wrong on our side; please try again."
        );
    }
}
