// What each program offers before anyone creates anything: its datasets (names from the documentation; columns and
// metrics plausible but invented, except ISVUsage's) and its predefined system queries (partner ids documented).

use crate::Program;

/// One dataset (table) that queries select from.
#[derive(Debug)]
pub(crate) struct Dataset {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [&'static str],
    pub(crate) metrics: &'static [&'static str],
    pub(crate) date_ranges: &'static [&'static str],
    /// Partner insights only; the marketplace's datasets have no such field.
    pub(crate) minimum_recurrence_interval: Option<i64>,
}

impl Dataset {
    /// A selectable column or metric, matched ignoring case, in the dataset's own spelling.
    pub(crate) fn column(&self, name: &str) -> Option<&'static str> {
        self.columns.iter().chain(self.metrics).copied().find(|c| c.eq_ignore_ascii_case(name))
    }

    /// Every column and metric, in order: what `SELECT *` returns.
    pub(crate) fn all_columns(&self) -> Vec<&'static str> {
        self.columns.iter().chain(self.metrics).copied().collect()
    }

    pub(crate) fn is_metric(&self, column: &str) -> bool {
        self.metrics.iter().any(|m| m.eq_ignore_ascii_case(column))
    }
}

/// A predefined query: `type: "system"`, cannot be deleted.
#[derive(Debug)]
pub(crate) struct SystemQuery {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) query: &'static str,
}

const MONTHLY: &[&str] = &["LAST_MONTH", "LAST_3_MONTHS", "LAST_6_MONTHS", "LAST_1_YEAR", "LIFETIME"];
const DAILY: &[&str] = &[
    "LAST_7_DAYS",
    "LAST_30_DAYS",
    "LAST_90_DAYS",
    "LAST_MONTH",
    "LAST_3_MONTHS",
    "LAST_6_MONTHS",
    "LAST_1_YEAR",
    "LIFETIME",
];

macro_rules! dataset {
    ($name:literal, [$($c:literal),* $(,)?], [$($m:literal),* $(,)?], $ranges:expr, $min:expr) => {
        Dataset {
            name: $name,
            columns: &[$($c),*],
            metrics: &[$($m),*],
            date_ranges: $ranges,
            minimum_recurrence_interval: $min,
        }
    };
}

const CLAS_COLUMNS: &[&str] =
    &["CustomerTenantId", "CustomerName", "CustomerTenantCountry", "Segment", "Subsegment", "RecommendedAction"];

/// The partner-insights datasets the documentation lists (including the two only its system-queries page uses).
/// `minimumRecurrenceInterval` is 24 where the documentation shows it (DynamicsUsage, OfficeUsage), else 4.
static PARTNER_DATASETS: &[Dataset] = &[
    dataset!(
        "CustomersAndTenants",
        [
            "CustomerTenantId",
            "CustomerName",
            "CustomerTenantCountry",
            "CustomerTenantRegion",
            "CustomerType",
            "PartnerId",
            "PartnerName",
            "PartnerLocation",
            "IsTenantActive",
            "TenantCreatedDate"
        ],
        ["CustomerCount", "TenantCount"],
        MONTHLY,
        Some(4)
    ),
    dataset!(
        "SeatsSubscriptionsAndRevenue",
        [
            "CustomerTenantId",
            "CustomerName",
            "SubscriptionId",
            "ProductName",
            "ProductCategory",
            "Workload",
            "BillingFrequency",
            "SubscriptionStartDate",
            "SubscriptionEndDate",
            "CustomerTenantCountry"
        ],
        ["PaidSeats", "ActiveSeats", "Revenue", "SubscriptionCount"],
        MONTHLY,
        Some(4)
    ),
    dataset!(
        "AzureUsage",
        [
            "CustomerTenantId",
            "CustomerName",
            "SubscriptionId",
            "ServiceName",
            "ServiceType",
            "MeterName",
            "ResourceLocation",
            "UsageDate",
            "PartnerAttributionType"
        ],
        ["ACR", "ConsumedQuantity", "NormalizedUsage"],
        DAILY,
        Some(4)
    ),
    dataset!(
        "MSLearn",
        ["UserPrincipalName", "LearningPathName", "ModuleName", "CompletionDate", "Country"],
        ["ModulesCompleted", "LearningHours"],
        MONTHLY,
        Some(4)
    ),
    dataset!(
        "OfficeUsage",
        ["CustomerTenantId", "CustomerName", "Workload", "ProductName", "UsageDate", "CustomerTenantCountry"],
        ["ActiveUsers", "LicensedSeats", "UsagePercent"],
        DAILY,
        Some(24)
    ),
    dataset!(
        "Profile",
        ["PartnerId", "PartnerName", "PartnerLocation", "PartnerType", "Country", "MembershipLevel", "EnrollmentDate"],
        ["LocationCount"],
        MONTHLY,
        Some(4)
    ),
    dataset!(
        "TrainingCompletions",
        ["UserPrincipalName", "CourseName", "CertificationName", "Competency", "CompletionDate", "Country"],
        ["CompletionCount"],
        MONTHLY,
        Some(4)
    ),
    dataset!(
        "DynamicsUsage",
        ["CustomerTenantId", "CustomerName", "Workload", "ProductName", "UsageDate", "CustomerTenantCountry"],
        ["ActiveUsers", "LicensedSeats"],
        DAILY,
        Some(24)
    ),
    dataset!(
        "CompetencySummaryHistory",
        ["PartnerId", "CompetencyName", "CompetencyLevel", "CompetencyStatus", "EarnedDate", "ExpiryDate"],
        ["CompetencyCount"],
        MONTHLY,
        Some(4)
    ),
    dataset!(
        "PowerBIUsage",
        ["CustomerTenantId", "CustomerName", "Workload", "UsageDate", "CustomerTenantCountry"],
        ["ActiveUsers", "LicensedSeats"],
        DAILY,
        Some(4)
    ),
    dataset!(
        "EMSUsage",
        ["CustomerTenantId", "CustomerName", "Workload", "ProductName", "UsageDate", "CustomerTenantCountry"],
        ["ActiveUsers", "LicensedSeats"],
        DAILY,
        Some(4)
    ),
    dataset!(
        // Sic: the documentation spells it this way.
        "CompetencyPeformanceRequirement",
        ["PartnerId", "CompetencyName", "RequirementName", "RequirementStatus", "DueDate"],
        ["RequiredValue", "CurrentValue"],
        MONTHLY,
        Some(4)
    ),
    dataset!(
        "ResellerPerformance",
        ["ResellerTenantId", "ResellerName", "ResellerCountry", "ProductName", "Workload", "Month"],
        ["Revenue", "SeatCount", "CustomerCount"],
        MONTHLY,
        Some(4)
    ),
    dataset!(
        "CloudProductsResellerPerformance",
        ["ResellerTenantId", "ResellerName", "ResellerCountry", "ProductName", "Workload", "Month"],
        ["Revenue", "SeatCount", "CustomerCount"],
        MONTHLY,
        Some(4)
    ),
    Dataset {
        name: "CLASAgreementRenewalsPropensity",
        columns: CLAS_COLUMNS,
        metrics: &["PropensityScore"],
        date_ranges: MONTHLY,
        minimum_recurrence_interval: Some(4),
    },
    Dataset {
        name: "CLASAzurePropensity",
        columns: CLAS_COLUMNS,
        metrics: &["PropensityScore"],
        date_ranges: MONTHLY,
        minimum_recurrence_interval: Some(4),
    },
    Dataset {
        name: "CLASD365Propensity",
        columns: CLAS_COLUMNS,
        metrics: &["PropensityScore"],
        date_ranges: MONTHLY,
        minimum_recurrence_interval: Some(4),
    },
    Dataset {
        name: "CLASM365Propensity",
        columns: CLAS_COLUMNS,
        metrics: &["PropensityScore"],
        date_ranges: MONTHLY,
        minimum_recurrence_interval: Some(4),
    },
    Dataset {
        name: "CLASSurfacePropensity",
        columns: CLAS_COLUMNS,
        metrics: &["PropensityScore"],
        date_ranges: MONTHLY,
        minimum_recurrence_interval: Some(4),
    },
    dataset!(
        "TeamsUsage3PApps",
        ["CustomerTenantId", "CustomerName", "AppName", "AppPublisher", "UsageDate"],
        ["ActiveUsers", "AppLaunches"],
        DAILY,
        Some(4)
    ),
    dataset!(
        "TeamsUsageWorkload",
        ["CustomerTenantId", "CustomerName", "Workload", "UsageDate"],
        ["ActiveUsers", "LicensedSeats"],
        DAILY,
        Some(4)
    ),
    dataset!(
        "TeamsUsageMeetingsAndCalls",
        ["CustomerTenantId", "CustomerName", "MeetingType", "UsageDate"],
        ["MeetingCount", "CallCount", "MeetingMinutes"],
        DAILY,
        Some(4)
    ),
];

/// The commercial-marketplace datasets the documentation names; no `minimumRecurrenceInterval` (MPN only).
static MARKETPLACE_DATASETS: &[Dataset] = &[
    dataset!(
        "ISVCustomer",
        [
            "CustomerId",
            "CustomerName",
            "CustomerCompanyName",
            "CustomerCountryRegion",
            "CustomerCity",
            "IsActive",
            "DateAcquired",
            "FirstUsageDate"
        ],
        ["TotalActiveCustomers", "TotalAcquiredCustomers"],
        MONTHLY,
        None
    ),
    dataset!(
        "ISVMarketplaceInsights",
        ["Date", "OfferName", "ReferralDomain", "CountryName"],
        ["PageVisits", "GetItNowClicks", "ContactMeClicks", "FreeTrialClicks"],
        DAILY,
        None
    ),
    // The columns the marketplace's custom query specification lists for ISVUsage (its dataset example, which the
    // docs' sample queries use), and `UsageType` from before.
    dataset!(
        "ISVUsage",
        [
            "MarketplaceSubscriptionId",
            "MonthStartDate",
            "OfferType",
            "AzureLicenseType",
            "MarketplaceLicenseType",
            "SKU",
            "CustomerCountry",
            "IsPreviewSKU",
            "SKUBillingType",
            "VMSize",
            "CloudInstanceName",
            "OfferName",
            "IsPrivateOffer",
            "DeploymentMethod",
            "CustomerName",
            "CustomerCompanyName",
            "UsageDate",
            "IsNewCustomer",
            "CoreSize",
            "TrialEndDate",
            "CustomerCurrencyCC",
            "PriceCC",
            "PayoutCurrencyPC",
            "EstimatedPricePC",
            "UsageReference",
            "UsageUnit",
            "CustomerId",
            "BillingAccountId",
            "MeterDimension",
            "MeterId",
            "PartnerCenterDetectedAnomaly",
            "PublisherMarkedAnomaly",
            "NewReportedUsage",
            "ActionTakenAt",
            "ActionTakenBy",
            "PlanId",
            "UsageType"
        ],
        ["NormalizedUsage", "RawUsage", "EstimatedExtendedChargeCC", "EstimatedExtendedChargePC"],
        DAILY,
        None
    ),
    dataset!(
        "ISVOrder",
        [
            "MarketplaceSubscriptionId",
            "CustomerId",
            "CustomerName",
            "OfferName",
            "OfferType",
            "SKU",
            "OrderStatus",
            "OrderPurchaseDate",
            "BillingTerm"
        ],
        ["OrderCount", "QuantityPurchased", "EstimatedPurchaseAmountPC"],
        MONTHLY,
        None
    ),
    dataset!(
        "ISVRevenue",
        [
            "EarningId",
            "OrderId",
            "MarketplaceSubscriptionId",
            "CustomerName",
            "OfferName",
            "TransactionDate",
            "EarningCurrencyCode",
            "PaymentStatus"
        ],
        ["EarningAmountCC", "EarningAmountUSD", "EstimatedPayoutPC"],
        MONTHLY,
        None
    ),
    dataset!(
        "ISVOfferRetention",
        ["OfferName", "OfferType", "CustomerName", "MonthStartDate"],
        ["RetentionPercentage", "RetainedCustomers"],
        MONTHLY,
        None
    ),
    dataset!(
        "ISVQualityOfService",
        ["OfferId", "SKU", "DeploymentStatus", "DeploymentDate", "Region"],
        ["DeploymentCount", "DeploymentDurationMinutes"],
        DAILY,
        None
    ),
];

macro_rules! system_query {
    ($name:literal, $id:literal, $query:literal) => {
        SystemQuery { id: $id, name: $name, description: concat!("System query: ", $name), query: $query }
    };
}

/// The partner-insights system queries, with the ids of the documentation's table (MPN-2023).
static PARTNER_SYSTEM_QUERIES: &[SystemQuery] = &[
    system_query!(
        "Customers",
        "6664daf3-c161-423a-92a1-0ea6db2c0384",
        "SELECT CustomerTenantId,CustomerName,CustomerTenantCountry,CustomerType,PartnerName,TenantCreatedDate,CustomerCount FROM CustomersAndTenants TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "SeatsSubscriptionsAndRevenue",
        "c9fc1c79-4408-49ff-97f9-e1aa3f155804",
        "SELECT CustomerTenantId,CustomerName,SubscriptionId,ProductName,Workload,PaidSeats,ActiveSeats,Revenue FROM SeatsSubscriptionsAndRevenue TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "Profile",
        "e65f3a4f-fb99-4319-97ff-59e57566a871",
        "SELECT PartnerId,PartnerName,PartnerLocation,PartnerType,MembershipLevel,LocationCount FROM Profile TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "AzureUsage",
        "d1a4d75e-5ca8-4847-845f-ee0a9be6f07b",
        "SELECT CustomerTenantId,CustomerName,SubscriptionId,ServiceName,UsageDate,ACR,ConsumedQuantity FROM AzureUsage TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "OfficeUsage",
        "d8349f7b-a7d1-467e-b26d-434d4a50f26a",
        "SELECT CustomerTenantId,CustomerName,Workload,UsageDate,ActiveUsers,LicensedSeats FROM OfficeUsage TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "DynamicsUsage",
        "6209a8fd-93af-442e-8b3f-3df0f77e8463",
        "SELECT CustomerTenantId,CustomerName,Workload,UsageDate,ActiveUsers,LicensedSeats FROM DynamicsUsage TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "PowerBIUsage",
        "40ebfe2f-7183-4427-a911-5c9b45b6df15",
        "SELECT CustomerTenantId,CustomerName,Workload,UsageDate,ActiveUsers,LicensedSeats FROM PowerBIUsage TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "EMSUsage",
        "d7f20ea4-8751-4d6b-b1d7-821c316acd6a",
        "SELECT CustomerTenantId,CustomerName,Workload,UsageDate,ActiveUsers,LicensedSeats FROM EMSUsage TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "CloudProductsResellerPerformance",
        "c09c2eda-861b-4664-8ee8-48a14745a26a",
        "SELECT ResellerTenantId,ResellerName,ResellerCountry,ProductName,Month,Revenue,SeatCount FROM CloudProductsResellerPerformance TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "CLASAgreementRenewalsPropensity",
        "c4fc87ac-4cca-44cd-bf4d-835ac513f9ee",
        "SELECT CustomerTenantId,CustomerName,Segment,RecommendedAction,PropensityScore FROM CLASAgreementRenewalsPropensity TIMESPAN LAST_MONTH"
    ),
    system_query!(
        "CLASAzurePropensity",
        "9a18bd70-8f90-4bd2-8266-5f6e453e3ee7",
        "SELECT CustomerTenantId,CustomerName,Segment,RecommendedAction,PropensityScore FROM CLASAzurePropensity TIMESPAN LAST_MONTH"
    ),
    system_query!(
        "CLASD365Propensity",
        "258fdcac-6e9c-4072-af27-b1b3d97be16c",
        "SELECT CustomerTenantId,CustomerName,Segment,RecommendedAction,PropensityScore FROM CLASD365Propensity TIMESPAN LAST_MONTH"
    ),
    system_query!(
        "CLASM365Propensity",
        "fbe00e32-fdde-4465-b3e4-41bbd021a130",
        "SELECT CustomerTenantId,CustomerName,Segment,RecommendedAction,PropensityScore FROM CLASM365Propensity TIMESPAN LAST_MONTH"
    ),
    system_query!(
        "CLASSurfacePropensity",
        "ba339743-7594-439f-bb01-1a2e754df7b7",
        "SELECT CustomerTenantId,CustomerName,Segment,RecommendedAction,PropensityScore FROM CLASSurfacePropensity TIMESPAN LAST_MONTH"
    ),
    system_query!(
        "TeamsUsage3PApps",
        "42d287be-cc76-4109-a066-f3140ad97fe2",
        "SELECT CustomerTenantId,CustomerName,AppName,AppPublisher,UsageDate,ActiveUsers FROM TeamsUsage3PApps TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "TeamsUsageWorkload",
        "817fe875-acb0-4c45-9201-b7a35a60235a",
        "SELECT CustomerTenantId,CustomerName,Workload,UsageDate,ActiveUsers,LicensedSeats FROM TeamsUsageWorkload TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "TeamsUsageMeetingsAndCalls",
        "b7bd73a8-47e8-4c57-b915-445708cfd7bf",
        "SELECT CustomerTenantId,CustomerName,MeetingType,UsageDate,MeetingCount,CallCount FROM TeamsUsageMeetingsAndCalls TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "TrainingCompletions",
        "20f5da57-3c2a-481b-b6a0-ec34d6db14e2",
        "SELECT UserPrincipalName,CourseName,CertificationName,CompletionDate,CompletionCount FROM TrainingCompletions TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "MSLearn",
        "0e06c7c3-75ab-4cd5-8178-8cf1a2de49cc",
        "SELECT UserPrincipalName,LearningPathName,ModuleName,CompletionDate,ModulesCompleted FROM MSLearn TIMESPAN LAST_6_MONTHS"
    ),
];

/// The marketplace system queries. The reference documents no ids for them, so these are the emulator's own,
/// recognisable by their `ec0` prefix; do not expect them on the real service.
static MARKETPLACE_SYSTEM_QUERIES: &[SystemQuery] = &[
    system_query!(
        "ISVCustomer",
        "ec000000-0000-4000-8000-000000000001",
        "SELECT CustomerId,CustomerName,CustomerCompanyName,CustomerCountryRegion,DateAcquired,IsActive FROM ISVCustomer TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "ISVMarketplaceInsights",
        "ec000000-0000-4000-8000-000000000002",
        "SELECT Date,OfferName,ReferralDomain,CountryName,PageVisits,GetItNowClicks FROM ISVMarketplaceInsights TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "ISVUsage",
        "ec000000-0000-4000-8000-000000000003",
        "SELECT MarketplaceSubscriptionId,CustomerName,OfferName,UsageDate,NormalizedUsage,RawUsage FROM ISVUsage TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "ISVOrder",
        "ec000000-0000-4000-8000-000000000004",
        "SELECT MarketplaceSubscriptionId,CustomerName,OfferName,OrderStatus,OrderPurchaseDate,QuantityPurchased FROM ISVOrder TIMESPAN LAST_6_MONTHS"
    ),
    system_query!(
        "ISVRevenue",
        "ec000000-0000-4000-8000-000000000005",
        "SELECT EarningId,CustomerName,OfferName,TransactionDate,EarningAmountUSD FROM ISVRevenue TIMESPAN LAST_6_MONTHS"
    ),
];

pub(crate) fn datasets(program: Program) -> &'static [Dataset] {
    match program {
        Program::Partner => PARTNER_DATASETS,
        Program::Marketplace => MARKETPLACE_DATASETS,
    }
}

/// The dataset called `name` (ignoring case, as the query language does).
pub(crate) fn dataset(program: Program, name: &str) -> Option<&'static Dataset> {
    datasets(program).iter().find(|d| d.name.eq_ignore_ascii_case(name))
}

pub(crate) fn system_queries(program: Program) -> &'static [SystemQuery] {
    match program {
        Program::Partner => PARTNER_SYSTEM_QUERIES,
        Program::Marketplace => MARKETPLACE_SYSTEM_QUERIES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::query_lang;

    #[test]
    fn every_system_query_parses_against_its_program() {
        for program in [Program::Partner, Program::Marketplace] {
            for query in system_queries(program) {
                if let Err(e) = query_lang::parse(program, query.query) {
                    panic!("{} does not parse: {}", query.name, e.message());
                }
            }
        }
    }

    #[test]
    fn documented_minimum_intervals() {
        assert_eq!(dataset(Program::Partner, "officeusage").unwrap().minimum_recurrence_interval, Some(24));
        assert_eq!(dataset(Program::Partner, "DynamicsUsage").unwrap().minimum_recurrence_interval, Some(24));
        assert!(datasets(Program::Marketplace).iter().all(|d| d.minimum_recurrence_interval.is_none()));
    }
}
