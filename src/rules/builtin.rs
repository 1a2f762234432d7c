//! The built-in rules: the guide's sensitive-file categories, each with the severity of a change and
//! of a read (authentication and SSH keys: CRITICAL / HIGH; cloud credentials and crypto wallets:
//! HIGH / MEDIUM; application secrets and database configuration: MEDIUM / LOW).

use super::{file_ops, Pattern, Rule, Severity};

/// Category → (change, read) severities.
const CATEGORIES: [(&str, Severity, Severity); 6] = [
    ("authentication", Severity::Critical, Severity::High),
    ("ssh_keys", Severity::Critical, Severity::High),
    ("cloud_credentials", Severity::High, Severity::Medium),
    ("crypto_wallets", Severity::High, Severity::Medium),
    ("application_secrets", Severity::Medium, Severity::Low),
    ("database_config", Severity::Medium, Severity::Low),
];

/// (name, category, match).
const RULES: [(&str, &str, &str); 33] = [
    ("auth-passwd", "authentication", "exact:/etc/passwd"),
    ("auth-shadow", "authentication", "exact:/etc/shadow"),
    ("auth-group", "authentication", "exact:/etc/group"),
    ("auth-gshadow", "authentication", "exact:/etc/gshadow"),
    ("auth-sudoers", "authentication", "exact:/etc/sudoers"),
    ("auth-sudoers-d", "authentication", "prefix:/etc/sudoers.d/"),
    ("auth-security", "authentication", "prefix:/etc/security/"),
    ("auth-pam", "authentication", "prefix:/etc/pam.d/"),
    ("ssh-private-keys", "ssh_keys", "glob:~/.ssh/id_*"),
    (
        "ssh-authorized-keys",
        "ssh_keys",
        "glob:~/.ssh/authorized_keys*",
    ),
    ("ssh-known-hosts", "ssh_keys", "glob:~/.ssh/known_hosts"),
    ("ssh-host-keys", "ssh_keys", "prefix:/etc/ssh/ssh_host_"),
    ("ssh-sshd-config", "ssh_keys", "exact:/etc/ssh/sshd_config"),
    (
        "cloud-aws-credentials",
        "cloud_credentials",
        "glob:~/.aws/credentials",
    ),
    (
        "cloud-aws-config",
        "cloud_credentials",
        "glob:~/.aws/config",
    ),
    (
        "cloud-gcloud",
        "cloud_credentials",
        "glob:~/.config/gcloud/**",
    ),
    ("cloud-azure", "cloud_credentials", "glob:~/.azure/**"),
    (
        "cloud-kube-config",
        "cloud_credentials",
        "glob:~/.kube/config",
    ),
    (
        "wallet-bitcoin",
        "crypto_wallets",
        "glob:~/.bitcoin/wallet.dat",
    ),
    (
        "wallet-ethereum",
        "crypto_wallets",
        "glob:~/.ethereum/keystore/**",
    ),
    (
        "wallet-gnupg",
        "crypto_wallets",
        "glob:~/.gnupg/private-keys*/**",
    ),
    ("secret-dotenv", "application_secrets", "suffix:.env"),
    ("secret-dir", "application_secrets", "glob:/**/secrets/**"),
    ("secret-vault", "application_secrets", "glob:/**/vault/**"),
    (
        "secret-credentials-json",
        "application_secrets",
        "suffix:/credentials.json",
    ),
    (
        "secret-secrets-yaml",
        "application_secrets",
        "suffix:/secrets.yaml",
    ),
    (
        "secret-secrets-yml",
        "application_secrets",
        "suffix:/secrets.yml",
    ),
    (
        "secret-htpasswd",
        "application_secrets",
        "suffix:/.htpasswd",
    ),
    ("db-mysql-etc", "database_config", "prefix:/etc/mysql/"),
    ("db-mysql-data", "database_config", "prefix:/var/lib/mysql/"),
    (
        "db-postgresql",
        "database_config",
        "prefix:/etc/postgresql/",
    ),
    (
        "db-postgresql-data",
        "database_config",
        "prefix:/var/lib/postgresql/",
    ),
    ("db-redis", "database_config", "prefix:/etc/redis/"),
];

/// Also database configuration; kept apart so RULES stays a table of one shape.
const MONGODB: [&str; 2] = ["exact:/etc/mongodb.conf", "exact:/etc/mongod.conf"];

/// The severities of a built-in category, for rules of a rules file that name it.
pub fn category_severities(category: &str) -> Option<(Severity, Severity)> {
    CATEGORIES
        .iter()
        .find(|(c, _, _)| *c == category)
        .map(|&(_, change, read)| (change, read))
}

pub fn rules() -> Vec<Rule> {
    let mongo = MONGODB
        .iter()
        .zip(["db-mongodb", "db-mongod"])
        .map(|(spec, name)| (name, "database_config", *spec));
    RULES
        .iter()
        .copied()
        .chain(mongo)
        .map(|(name, category, spec)| {
            let (change, read) =
                category_severities(category).expect("built-in rules name built-in categories");
            Rule {
                name: name.into(),
                category: category.into(),
                pattern: Pattern::parse(spec).expect("built-in patterns parse"),
                ops: file_ops(),
                change,
                read,
            }
        })
        .collect()
}
