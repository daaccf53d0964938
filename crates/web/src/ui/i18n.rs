//! The pages' words in English and Russian. Every text exists in both languages: the
//! `texts!` table makes a missing translation a compile error, not a blank on a page.
//!
//! Choice of language: the `ld_lang` cookie (set by the page's language switch, `?lang=`),
//! else the signed-in customer's or staff user's locale, else English.

/// A page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    /// `ru…` is Russian; everything else English.
    pub fn of(locale: &str) -> Lang {
        if locale.trim().to_ascii_lowercase().starts_with("ru") {
            Lang::Ru
        } else {
            Lang::En
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
    pub fn t(self) -> &'static Tr {
        match self {
            Lang::En => &EN,
            Lang::Ru => &RU,
        }
    }
}

macro_rules! texts {
    ($($key:ident: $en:literal, $ru:literal;)*) => {
        /// The words of one language.
        pub struct Tr { $(pub $key: &'static str,)* }
        pub static EN: Tr = Tr { $($key: $en,)* };
        pub static RU: Tr = Tr { $($key: $ru,)* };
    };
}

texts! {
    skip_to_content: "Skip to content", "Перейти к содержанию";
    main_nav: "Main", "Основное меню";
    language: "Language", "Язык";
    sign_in: "Sign in", "Войти";
    sign_out: "Sign out", "Выйти";
    email: "Email", "Эл. почта";
    password: "Password", "Пароль";
    portal_title: "Your account", "Ваш аккаунт";
    console_title: "Agent console", "Консоль оператора";
    wrong_login: "Wrong email or password.", "Неверная почта или пароль.";
    too_many_attempts: "Too many sign-in attempts. Try again in 15 minutes.", "Слишком много попыток входа. Попробуйте через 15 минут.";
    session_expired: "Your session has ended. Please sign in again.", "Сеанс завершён. Войдите снова.";
    form_expired: "This form has expired. Reload the page and try again.", "Форма устарела. Обновите страницу и попробуйте снова.";
    not_found: "Not found", "Не найдено";
    not_found_text: "There is nothing here, or it is not yours to see.", "Здесь ничего нет, или у вас нет доступа.";
    error_title: "Something went wrong", "Что-то пошло не так";
    error_our_side: "Something went wrong on our side; please try again.", "Что-то пошло не так на нашей стороне; попробуйте ещё раз.";
    forbidden_title: "Not allowed", "Нет доступа";
    forbidden_text: "Your role does not allow this page.", "Ваша роль не даёт доступа к этой странице.";
    bad_request_title: "Please check what you asked for", "Проверьте запрос";
    back: "Back", "Назад";
    overview: "Overview", "Обзор";
    invoices: "Invoices", "Счета";
    invoice: "Invoice", "Счёт";
    tickets: "Support", "Поддержка";
    chat: "Chat", "Чат";
    balance: "Balance", "Баланс";
    amount_owed: "You owe", "К оплате";
    credit_balance: "Credit balance", "Кредитный баланс";
    current_plan: "Current plan", "Текущий тариф";
    no_subscription: "No active subscription.", "Нет активной подписки.";
    next_invoice: "Next invoice (estimate, before tax)", "Следующий счёт (оценка, без налога)";
    renews_on: "Renews on", "Продление";
    ends_on: "Ends on", "Заканчивается";
    overdue: "Overdue", "Просрочено";
    nothing_overdue: "Nothing is overdue.", "Просроченных счетов нет.";
    change_plan: "Change plan or quantity", "Изменить тариф или количество";
    number: "Number", "Номер";
    date: "Date", "Дата";
    due_date: "Due date", "Срок оплаты";
    status: "Status", "Статус";
    total: "Total", "Итого";
    subtotal: "Subtotal", "Подытог";
    discount: "Discount", "Скидка";
    tax: "Tax", "Налог";
    amount_due: "Amount due", "К оплате";
    amount_paid: "Paid", "Оплачено";
    amount_remaining: "Remaining", "Осталось оплатить";
    credit_applied: "Credit applied", "Зачтён кредит";
    description: "Description", "Описание";
    period: "Period", "Период";
    quantity: "Qty", "Кол-во";
    amount: "Amount", "Сумма";
    download_pdf: "Download PDF", "Скачать PDF";
    pay_now: "Pay now", "Оплатить";
    payment_ok: "Thank you: the payment went through.", "Спасибо, платёж прошёл.";
    payment_declined: "The card was declined", "Карта отклонена";
    no_invoices: "No invoices yet.", "Счетов пока нет.";
    status_draft: "Draft", "Черновик";
    status_open: "Open", "К оплате";
    status_paid: "Paid", "Оплачен";
    status_void: "Void", "Аннулирован";
    status_uncollectible: "Uncollectible", "Безнадёжный";
    plan: "Plan", "Тариф";
    preview: "Preview", "Предпросмотр";
    confirm_change: "Confirm change", "Подтвердить изменение";
    change_now_charge: "Charged now for the rest of this period", "Спишется сейчас за остаток периода";
    change_at_period_end: "Takes effect at the end of the current period; nothing is charged now.", "Вступит в силу в конце текущего периода; сейчас ничего не списывается.";
    per_period_before: "Per period now", "За период сейчас";
    per_period_after: "Per period after", "За период после";
    plan_changed: "Your plan has been changed.", "Тариф изменён.";
    open_ticket: "Ask a question", "Задать вопрос";
    subject: "Subject", "Тема";
    message: "Message", "Сообщение";
    category: "Topic", "Тема обращения";
    about_invoice: "About invoice (optional)", "По счёту (необязательно)";
    none: "None", "Нет";
    send: "Send", "Отправить";
    reply: "Reply", "Ответить";
    no_tickets: "No questions yet.", "Обращений пока нет.";
    ticket_opened: "Thank you: we have your question and will answer soon.", "Спасибо, ваш вопрос принят, скоро ответим.";
    rate_ticket: "How did we do?", "Как мы справились?";
    rate: "Rate", "Оценить";
    thanks_rating: "Thank you for rating us.", "Спасибо за оценку.";
    you: "You", "Вы";
    support_team: "Support", "Поддержка";
    cat_invoice_discrepancy: "Something is wrong on an invoice", "Ошибка в счёте";
    cat_payment_problem: "Payment problem", "Проблема с платежом";
    cat_refund: "Refund or adjustment", "Возврат или корректировка";
    cat_payment_terms: "Payment terms", "Условия оплаты";
    cat_plan_change: "Changing my plan", "Смена тарифа";
    cat_account_change: "Account details", "Данные аккаунта";
    cat_other: "Other", "Другое";
    chat_title: "Chat with us", "Чат с поддержкой";
    chat_connect: "Start chat", "Начать чат";
    chat_placeholder: "Type a message", "Введите сообщение";
    chat_queued: "You are number {position} in the queue; about {minutes} min.", "Вы {position}-й в очереди; примерно {minutes} мин.";
    chat_joined: "An agent has joined the chat.", "Оператор подключился к чату.";
    chat_ticket: "No agent is free right now: we opened ticket {number} and will answer by email.", "Сейчас нет свободных операторов: мы создали обращение {number} и ответим по почте.";
    chat_ended: "The chat has ended.", "Чат завершён.";
    live_chat: "Live chat", "Живой чат";
    chat_waiting: "Waiting chats", "Ожидающие чаты";
    chat_none_waiting: "No chat is waiting.", "Ожидающих чатов нет.";
    chat_accept: "Accept", "Принять";
    chat_end: "End chat", "Завершить чат";
    chat_waited: "waiting {minutes} min", "ждёт {minutes} мин.";
    chat_with: "Chat with {name}: ticket {number}", "Чат с {name}: обращение {number}";
    chat_agent_ended: "The chat has ended; its transcript is on ticket {number}.", "Чат завершён; его запись в обращении {number}.";
    chat_online: "Connected: waiting chats appear here.", "Подключено: ожидающие чаты появятся здесь.";
    chat_is_online: "You are online: new chats queue for you.", "Вы на линии: новые чаты ждут вас.";
    chat_is_offline: "You are offline: with nobody online, new chats become tickets.", "Вы не на линии: если на линии никого нет, новые чаты становятся обращениями.";
    chat_go_online: "Go online", "Выйти на линию";
    chat_go_offline: "Go offline", "Уйти с линии";
    kpis: "KPIs", "Показатели";
    kpi_from: "From", "С";
    kpi_to: "To", "По";
    kpi_show: "Show", "Показать";
    kpi_fcr: "First contact resolution", "Решено с первого обращения";
    kpi_aht: "Average handling time", "Среднее время обработки";
    kpi_csat: "Customer satisfaction", "Удовлетворённость клиентов";
    kpi_first_response: "First response (median / 90th)", "Первый ответ (медиана / 90-й)";
    kpi_resolution: "Time to resolution (median / 90th)", "Время решения (медиана / 90-й)";
    kpi_accuracy: "Billing accuracy", "Точность счетов";
    kpi_contacts: "Contacts", "Обращения";
    kpi_per_thousand: "Billing contacts per 1,000 invoices", "Обращений по счетам на 1000 счетов";
    kpi_contacts_by_day: "Contacts per day", "Обращения по дням";
    kpi_by_channel: "Contacts by channel", "Обращения по каналам";
    kpi_accuracy_by_month: "Billing accuracy by month", "Точность счетов по месяцам";
    kpi_categories: "Tickets by category", "Обращения по темам";
    kpi_csat_by_agent: "CSAT by agent", "Удовлетворённость по операторам";
    kpi_nothing: "Nothing in this period.", "За этот период данных нет.";
    queue: "Queue", "Очередь";
    approvals: "Approvals", "Согласования";
    customers: "Customers", "Клиенты";
    search: "Search", "Найти";
    search_customers: "Search by name, email or external id", "Поиск по имени, почте или внешнему id";
    ticket: "Ticket", "Обращение";
    customer: "Customer", "Клиент";
    account_unavailable: "The customer's account could not be read just now. Try again in a moment; if it keeps failing, tell your administrator.", "Не удалось прочитать данные клиента. Попробуйте ещё раз чуть позже; если ошибка повторяется, сообщите администратору.";
    assignee: "Assignee", "Исполнитель";
    priority: "Priority", "Приоритет";
    sla: "SLA", "SLA";
    first_response: "First response", "Первый ответ";
    resolution: "Resolution", "Решение";
    unassigned: "Unassigned", "Не назначено";
    take: "Take", "Взять";
    empty_queue: "The queue is empty.", "Очередь пуста.";
    conversation: "Conversation", "Переписка";
    internal_note: "Internal note", "Внутренняя заметка";
    add_note: "Add note", "Добавить заметку";
    macro_label: "Macro", "Шаблон";
    no_macro: "No macro", "Без шаблона";
    status_after: "Status after", "Статус после";
    profile: "Profile", "Профиль";
    subscriptions: "Subscriptions", "Подписки";
    payments: "Payments", "Платежи";
    timeline: "Timeline", "История";
    verification: "Identity verification", "Проверка личности";
    verified: "Verified", "Проверен";
    not_verified: "Not verified", "Не проверен";
    log_call: "Log a call", "Записать звонок";
    phone: "Phone", "Телефон";
    call_logged: "Call logged.", "Звонок записан.";
    verify_with: "Verify with", "Проверить через";
    email_code: "Code by email", "Код по почте";
    sms_code: "Code by SMS", "Код по SMS";
    knowledge: "Account knowledge", "Данные аккаунта";
    postal_code: "Postal code", "Почтовый индекс";
    card_last4: "Card last four", "Последние 4 цифры карты";
    start_verification: "Start", "Начать";
    code: "Code", "Код";
    confirm: "Confirm", "Подтвердить";
    needs_call: "Log the call or open a chat first: verification belongs to a conversation.", "Сначала запишите звонок или откройте чат: проверка относится к разговору.";
    billing_action: "Billing action", "Финансовое действие";
    action: "Action", "Действие";
    reason: "Reason", "Причина";
    reason_code: "Reason code", "Код причины";
    your_limit: "Your limit", "Ваш лимит";
    unlimited: "unlimited", "без лимита";
    above_limit_note: "Above your limit the action becomes an approval request.", "Выше лимита действие уходит на согласование.";
    request: "Request", "Выполнить";
    action_executed: "Done", "Выполнено";
    action_pending: "Sent for approval", "Отправлено на согласование";
    action_rejected: "Rejected", "Отклонено";
    actions_taken: "Actions", "Действия";
    approve: "Approve", "Согласовать";
    reject: "Reject", "Отклонить";
    no_approvals: "Nothing waits for approval.", "Нет запросов на согласование.";
    requested_by: "Requested by", "Запросил";
    goodwill_credit: "Goodwill credit", "Компенсация (кредит)";
    credit_note: "Credit note", "Кредит-нота";
    refund: "Refund", "Возврат платежа";
    due_date_extension: "Due date extension", "Перенос срока оплаты";
    payment_plan: "Payment plan", "План платежей";
    write_off: "Write-off", "Списание долга";
    action_payment: "Payment (refund)", "Платёж (возврат)";
    action_coupon: "Coupon (discount)", "Купон (скидка)";
    action_due_date: "New due date (extension)", "Новый срок оплаты (перенос)";
    action_instalments: "Instalments (payment plan): one per line, date and amount", "Платежи (план): по одному в строке, дата и сумма";
    action_invoice_hint: "credit note, extension, plan, write-off", "кредит-нота, перенос, план, списание";
    action_amount_hint: "empty: the whole amount left", "пусто: вся оставшаяся сумма";
    in_conversation: "In conversation", "В разговоре";
    no_results: "No results.", "Ничего не найдено.";
    open_tickets_count: "Open tickets", "Открытые обращения";
    created: "Created", "Создано";
    currency_label: "Currency", "Валюта";
    magic_link_heading: "Email me a sign-in link", "Прислать ссылку для входа";
    magic_link_intro: "No password at hand? We email you a link that signs you in once, within 15 minutes.", "Нет пароля под рукой? Мы пришлём на почту ссылку, по которой можно войти один раз в течение 15 минут.";
    send_link: "Email me a link", "Прислать ссылку";
    link_email: "Email address for the link", "Адрес почты для ссылки";
    magic_link_sent: "If the address has an account, a sign-in link is on its way. It is valid for 15 minutes.", "Если для этого адреса есть аккаунт, ссылка для входа уже отправлена. Она действует 15 минут.";
    magic_confirm_heading: "Sign in to your account", "Вход в аккаунт";
    magic_confirm_text: "Press the button to sign in. The link works once.", "Нажмите кнопку, чтобы войти. Ссылка действует один раз.";
    link_heading: "Sign-in link", "Ссылка для входа";
    link_used: "This sign-in link has been used already. Ask for a new one on the sign-in page.", "Эта ссылка для входа уже использована. Запросите новую на странице входа.";
    link_expired: "This sign-in link has expired: links are valid for 15 minutes. Ask for a new one on the sign-in page.", "Срок действия ссылки истёк: ссылки действуют 15 минут. Запросите новую на странице входа.";
    link_unknown: "This sign-in link is not valid. Check that you opened the whole link from the email, or ask for a new one.", "Эта ссылка для входа недействительна. Проверьте, что открыли ссылку из письма целиком, или запросите новую.";
    back_to_sign_in: "Back to sign-in", "Вернуться ко входу";
    payment_methods: "Payment methods", "Способы оплаты";
    your_methods: "Your payment methods", "Ваши способы оплаты";
    no_payment_methods: "No payment methods yet.", "Способов оплаты пока нет.";
    method: "Method", "Способ";
    expires: "Expires", "Действует до";
    default_method: "Default", "Основной";
    make_default: "Make default", "Сделать основным";
    remove: "Remove", "Удалить";
    add_card: "Add a card", "Добавить карту";
    card_token: "Card token", "Токен карты";
    card_token_hint: "Enter the token the payment gateway's card form gave you. Test mode: tok_visa or tok_mastercard.", "Введите токен, который выдала форма карты платёжного шлюза. Тестовый режим: tok_visa или tok_mastercard.";
    card_added: "The card has been added.", "Карта добавлена.";
    card_token_invalid: "This is not a card token the payment gateway issued. Enter the token, never the card number.", "Это не токен карты, выданный платёжным шлюзом. Введите токен, а не номер карты.";
    default_changed: "The default payment method has been changed.", "Основной способ оплаты изменён.";
    method_removed: "The payment method has been removed.", "Способ оплаты удалён.";
    bank_transfer: "Bank transfer", "Банковский перевод";
    other_method: "Other", "Другой";
    your_details: "Your details", "Ваши данные";
    name: "Name", "Имя";
    billing_address: "Billing address", "Адрес для счетов";
    address_line1: "Street and number", "Улица и дом";
    address_line2: "Address line 2 (optional)", "Адрес, строка 2 (необязательно)";
    city: "City", "Город";
    region: "State or region", "Область или регион";
    country: "Country (two letters, e.g. DE)", "Страна (две буквы, например RU)";
    save: "Save", "Сохранить";
    profile_saved: "Your details have been saved.", "Данные сохранены.";
    tax_ids: "Tax ids", "Налоговые номера";
    no_tax_ids: "No tax ids yet.", "Налоговых номеров пока нет.";
    tax_id_type: "Type", "Тип";
    tax_id_value: "Tax id", "Налоговый номер";
    add_tax_id: "Add tax id", "Добавить номер";
    tax_id_added: "The tax id has been added.", "Налоговый номер добавлен.";
    tax_id_removed: "The tax id has been removed.", "Налоговый номер удалён.";
    contacts: "Contacts", "Контакты";
    no_contacts: "No contacts yet.", "Контактов пока нет.";
    role: "Role", "Роль";
    role_billing: "Billing", "Счета и оплата";
    role_technical: "Technical", "Технические вопросы";
    role_primary: "Primary", "Основной контакт";
    role_other: "Other", "Другое";
    add_contact: "Add contact", "Добавить контакт";
    contact_added: "The contact has been added.", "Контакт добавлен.";
    contact_removed: "The contact has been removed.", "Контакт удалён.";
    products: "Products", "Продукты";
    product: "Product", "Продукт";
    add_product: "Add a product", "Добавить продукт";
    add_product_intro: "The product starts today; this period's share is invoiced now.", "Продукт подключается сегодня; доля за текущий период выставляется сразу.";
    nothing_to_add: "There is nothing more to add to this subscription.", "К этой подписке больше нечего добавить.";
    product_added: "The product has been added.", "Продукт добавлен.";
    remove_product: "Remove a product", "Удалить продукт";
    remove_product_intro: "You are removing {name} from your subscription.", "Вы удаляете {name} из подписки.";
    product_removed: "The product has been removed.", "Продукт удалён.";
    product_leaving: "The product will be removed at the end of the current period.", "Продукт будет удалён в конце текущего периода.";
    leaving: "Ends with this period", "Уходит в конце периода";
    cancel_subscription: "Cancel subscription", "Отменить подписку";
    offer_heading: "Before you go", "Прежде чем уйти";
    offer_default: "Stay with us and get a discount.", "Оставайтесь с нами и получите скидку.";
    offer_once: "{off} off your next invoice", "Скидка {off} на следующий счёт";
    offer_repeating: "{off} off each of your next {n} invoices", "Скидка {off} на каждый из следующих счетов, всего {n}";
    offer_forever: "{off} off every invoice for as long as you stay", "Скидка {off} на все счета, пока вы с нами";
    accept_offer: "Accept offer", "Принять предложение";
    cancel_anyway: "Cancel anyway", "Всё равно отменить";
    offer_accepted: "Thank you for staying: the discount is on your subscription.", "Спасибо, что остаётесь: скидка добавлена к подписке.";
    cancel_text: "Your subscription ends when the paid period is over: the service runs until {date}, then stops. Nothing more is charged.", "Подписка закончится по окончании оплаченного периода: услуга работает до {date}, затем прекращается. Больше ничего не списывается.";
    confirm_cancel: "Cancel at the end of the period", "Отменить в конце периода";
    keep_subscription: "Keep my subscription", "Оставить подписку";
    subscription_canceled: "Your subscription ends on {date}.", "Подписка закончится {date}.";
    ending_text: "This subscription is set to end on {date}. Changed your mind? Keep it running and nothing changes.", "Подписка закончится {date}. Передумали? Продолжите её, и всё останется как было.";
    resume: "Keep it running", "Продолжить подписку";
    resumed: "Your subscription continues.", "Подписка продолжается.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_pick_a_language() {
        assert_eq!(Lang::of("ru"), Lang::Ru);
        assert_eq!(Lang::of("ru-RU"), Lang::Ru);
        assert_eq!(Lang::of("en"), Lang::En);
        assert_eq!(Lang::of("de"), Lang::En);
        assert_eq!(Lang::Ru.t().sign_in, "Войти");
    }
}
