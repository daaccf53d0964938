//! `string_enum!`: the closed vocabularies (statuses, channels, roles, …) are stored and
//! sent as snake_case strings; this gives each the same `as_str`, `parse`, `ALL`, serde and
//! `Display` so they cannot drift apart.

/// Declares a fieldless enum whose variants map one-to-one to snake_case strings.
///
/// Generates `ALL` (every variant in declaration order), `as_str`, `parse` (exact match,
/// no trimming or case folding; the error names `$field` and lists the accepted values),
/// `Display` (same as `as_str`), `FromStr` and serde as the same strings.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($field:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $s:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $s)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The snake_case name used in storage, the API and URLs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }

            /// Parses the exact snake_case name (no trimming, no case folding).
            pub fn parse(s: &str) -> Result<Self, $crate::DeskError> {
                match s {
                    $($s => Ok($name::$variant),)+
                    other => Err($crate::DeskError::invalid(
                        $field,
                        format!(
                            "unknown {} {:?}: use one of {}",
                            $field,
                            other,
                            [$($s),+].join(", ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::DeskError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}
