import ConduitCore
import HTTPTypes
import Store

/// What `/v1/jobs` refuses beyond its inputs' rules.
package enum JobsError: APIErrorConvertible, Equatable {
    /// A job's output exists once it is completed.
    case outputNotReady(JobState)

    package var apiError: APIError {
        switch self {
        case .outputNotReady(let state):
            APIError(
                status: .conflict, message: "the job is \(state.rawValue); its output exists once it is completed",
                code: "invalid_job_state")
        }
    }
}
