# identity-idp's own InstantVerify judging, run over answer bodies read from
# stdin (one JSON per line); prints each result's to_h as one JSON line.
# ARGV[0]: a folder holding identity-idp's files at the reference commit
# (run.sh extracts them); nothing of identity-idp is kept in this repository.
# Only what those files need from Rails is stubbed here.
require 'json'
require 'active_support/all'

module NewRelic
  module Agent
    def self.notice_error(_error); end
  end
end

module Proofing
  class TimeoutError < StandardError; end

  module LexisNexis
    class Config
      def initialize(_config); end

      def instant_verify_workflow
        'wf'
      end
    end
  end
end

dir = ARGV.fetch(0)
%w[result verification_error_parser response check_to_attribute_mapper proofer].each do |name|
  load File.join(dir, "#{name}.rb")
end

# What Response reads of a Faraday response.
FakeHttp = Struct.new(:body, :status, :headers) do
  def success?
    (200..299).cover?(status)
  end
end

proofer = Proofing::LexisNexis::InstantVerify::Proofer.new({})
STDIN.each_line do |line|
  result = begin
    response = Proofing::LexisNexis::Response.new(FakeHttp.new(line.chomp, 200, {}))
    proofer.send(:build_result_from_response, response)
  rescue => e
    # Proofer#proof's own rescue, without the request it would send.
    Proofing::Resolution::Result.new(
      success: false, errors: {}, exception: e,
      vendor_name: 'lexisnexis:instant_verify', vendor_workflow: 'wf'
    )
  end
  hash = result.to_h
  hash[:exception] = hash[:exception] && "#{hash[:exception].class}: #{hash[:exception].message}"
  puts JSON.generate(hash)
end
